"""A run is a list of phases, each folded as soon as it ends.

``local``, ``live`` and ``spec-check`` differ only in their targets, their safety policy (the
``Guard`` a live run wraps every phase in) and the phases they list. ``run_phases`` walks the
list: a phase runs when it is due, its result goes through the fold, and a result that stops the
run leaves only the phases that always run (a live run's cleanup), which run whatever happened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from hokusai_contracts.domain.names import PhaseName, Suite
from hokusai_contracts.report.phase import Phase, PhaseResult, RunState
from hokusai_contracts.report.progress import Progress
from hokusai_contracts.run.fold import Fold

__all__ = ["Guard", "Step", "run_phases"]

#: Runs one phase for a run's safety policy: ``guard(phase, state)`` instead of ``phase.run(state)``.
Guard = Callable[[Phase, RunState], PhaseResult]


@dataclass
class Step:
    """A phase made of a function: the common case."""

    name: PhaseName
    action: Callable[[RunState], PhaseResult]
    #: Asked when the step's turn comes: false skips it (the reason is another phase's to report).
    when: Callable[[RunState], bool] | None = None
    always: bool = False
    #: The suite a refusal of the live gate is reported under, when the step has one.
    suite: Suite | None = None

    def due(self, state: RunState) -> bool:
        return self.when(state) if self.when is not None else True

    def run(self, state: RunState) -> PhaseResult:
        return self.action(state)


def _plain(phase: Phase, state: RunState) -> PhaseResult:
    return phase.run(state)


def run_phases(phases: Sequence[Phase], fold: Fold, out: Callable[[str], None], guard: Guard = _plain,
               progress: Progress | None = None) -> RunState:
    """Run ``phases`` in order, folding each result as it comes; ``progress`` ticks while each runs.

    Returns the run state, with the facts the phases learned (``RunFacts``)."""
    state = RunState(fold.report, out)
    progress = progress or Progress(out)
    fold.verdict_out = fold.verdict_out or out
    stopped = False

    def run(phase: Phase) -> PhaseResult:
        with progress.phase(str(phase.name)):
            return guard(phase, state)

    try:
        for phase in phases:
            if phase.always or stopped or not phase.due(state):
                continue
            result = run(phase)
            fold.add(result)
            stopped = result.stop
    finally:
        for phase in phases:
            if phase.always and phase.due(state):
                fold.add(run(phase))
    return state
