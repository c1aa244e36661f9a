"""SIGTERM waits while a round is stored, and still ends the watch once it is."""

from __future__ import annotations

import os
import signal

import pytest

from hokusai_contracts._errors import Terminated
from hokusai_contracts.run.signals import signals_held, signals_released
from hokusai_contracts.stack.processes import sigterm_as_interrupt


def test_a_held_sigterm_is_raised_when_the_block_ends() -> None:
    done = []
    with sigterm_as_interrupt(), pytest.raises(Terminated):
        with signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("stored")  # not interrupted
    assert done == ["stored"]


def test_released_lets_it_through_and_a_held_one_stops_the_release_at_once() -> None:
    with sigterm_as_interrupt():
        with pytest.raises(Terminated), signals_held(), signals_released():
            os.kill(os.getpid(), signal.SIGTERM)
            pytest.fail("not interrupted")  # pragma: no cover
        ran = []
        with pytest.raises(Terminated), signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            with signals_released():
                ran.append("round")  # pragma: no cover
        assert ran == []
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # the outer handler is back
