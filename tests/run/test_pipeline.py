"""run_phases: phases in order when due, each folded as it ends; a stop leaves only the phases that always run."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hokusai_contracts import Suite
from hokusai_contracts.contracts.deviations import KnownDeviations
from hokusai_contracts.domain.names import PhaseName
from hokusai_contracts.report.model import CheckStatus, Report
from hokusai_contracts.report.phase import Check, PhaseResult, RunState
from hokusai_contracts.run.fold import Fold
from hokusai_contracts.run.pipeline import Step, run_phases


def _fold() -> Fold:
    return Fold(Report(tool_version="t", mode="live"), KnownDeviations())


def _step(name: str, ran: list[str], *, stop: bool = False, fail: bool = False, always: bool = False,
          due: bool = True) -> Step:
    def action(state: RunState) -> PhaseResult:
        ran.append(name)
        # What earlier phases made is folded already when a later one runs.
        seen = len(state.report.checks)
        if fail:
            raise KeyboardInterrupt
        return PhaseResult(checks=[Check(suite=Suite.SCENARIO, name=f"{name} saw {seen}", status=CheckStatus.PASSED)],
                           stop=stop)
    return Step(PhaseName.SCENARIO, action, when=lambda state: due, always=always)


def test_phases_run_in_order_when_due_and_see_what_came_before() -> None:
    ran: list[str] = []
    fold = _fold()
    run_phases([_step("a", ran), _step("b", ran, due=False), _step("c", ran)], fold, print)
    assert ran == ["a", "c"]
    assert [c.name for c in fold.report.checks] == ["a saw 0", "c saw 1"]


def test_a_stop_leaves_only_what_always_runs() -> None:
    ran: list[str] = []
    fold = _fold()
    run_phases([_step("a", ran, stop=True), _step("b", ran), _step("cleanup", ran, always=True)], fold, print)
    assert ran == ["a", "cleanup"]


def test_what_always_runs_runs_whatever_happened() -> None:
    ran: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        run_phases([_step("a", ran, fail=True), _step("b", ran), _step("cleanup", ran, always=True)], _fold(), print)
    assert ran == ["a", "cleanup"]


def test_a_guard_runs_every_phase() -> None:
    ran: list[str] = []
    guarded: list[PhaseName] = []

    def guard(phase: object, state: RunState) -> PhaseResult:
        assert isinstance(phase, Step)
        guarded.append(phase.name)
        result = phase.run(state)
        result.timings[phase.name] = 1.0
        return result

    fold = _fold()
    run_phases([_step("a", ran), _step("cleanup", ran, always=True)], fold, print, guard=guard)
    assert guarded == [PhaseName.SCENARIO, PhaseName.SCENARIO] and fold.report.timings == {"scenario": 1.0}


def test_a_fact_one_phase_learns_decides_a_later_phase_and_is_on_the_state_returned() -> None:
    ran: list[str] = []

    def credentials(state: RunState) -> PhaseResult:
        state.facts.key_refused = True
        return PhaseResult()

    def phase(name: str) -> Callable[[RunState], PhaseResult]:
        return lambda state: ran.append(name) or PhaseResult()

    state = run_phases([Step(PhaseName.CREDENTIALS, credentials),
                        Step(PhaseName.FAULTS, phase("faults"), when=lambda state: not state.facts.key_refused),
                        Step(PhaseName.FAULTS, phase("consequence"), when=lambda state: state.facts.key_refused)],
                       _fold(), print)
    assert ran == ["consequence"]
    assert state.facts.key_refused and state.facts.healthy
