"""The fault names agree everywhere they are spelled: settings, stack definition, journal."""

from __future__ import annotations

from typing import get_args

from hokusai_contracts.journal.faults import FaultMode
from hokusai_contracts.settings import LocalSettings
from hokusai_contracts.stack.definition import JOURNAL_FAULTS, MLFLOW_FAULTS


def test_every_mlflow_fault_is_a_setting_value() -> None:
    assert set(get_args(LocalSettings.model_fields["mlflow_fault"].annotation)) == set(MLFLOW_FAULTS)


def test_every_fault_the_stack_gives_the_journal_is_one_it_injects() -> None:
    assert set(JOURNAL_FAULTS) == {"slow", "error", "drop"}
    assert set(JOURNAL_FAULTS) <= {mode.value for mode in FaultMode}
