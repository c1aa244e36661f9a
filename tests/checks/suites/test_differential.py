"""The differential check asks MLflow again only for what it has not seen (``COMPARISONS_PER_STATUS``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hokusai_contracts.checks.suites.differential import COMPARISONS_PER_STATUS, compare_with_upstream


@dataclass
class _Answer:
    status_code: int
    content: bytes = b'{"experiments": []}'


@dataclass
class _Case:
    direct_status: int = 200
    calls: list[str] = field(default_factory=list)

    def call(self, base_url: str, **kwargs: Any) -> _Answer:
        self.calls.append(base_url)
        return _Answer(self.direct_status)


@dataclass
class _Recorder:
    context: Any = field(default_factory=lambda: type("Context", (), {"request_timeout_s": 5.0,
                                                                      "mlflow_headers": lambda self: None})())
    session: Any = None
    compared: Any = field(default_factory=lambda: __import__("collections").Counter())
    findings: list[Any] = field(default_factory=list)

    def add(self, finding: Any) -> None:
        self.findings.append(finding)


def test_each_status_of_an_operation_is_compared_a_few_times_then_trusted() -> None:
    recorder, case = _Recorder(), _Case()
    for _ in range(COMPARISONS_PER_STATUS + 4):
        compare_with_upstream(recorder, case, _Answer(200), "http://mlflow")
    assert len(case.calls) == COMPARISONS_PER_STATUS
    # A status the proxy had not answered yet on this operation: compared again.
    case.direct_status = 400
    compare_with_upstream(recorder, case, _Answer(400), "http://mlflow")
    assert len(case.calls) == COMPARISONS_PER_STATUS + 1 and recorder.findings == []


def test_the_proxys_own_answers_are_never_compared() -> None:
    recorder, case = _Recorder(), _Case()
    for status in (401, 403, 429, 502, 503, 504):
        compare_with_upstream(recorder, case, _Answer(status), "http://mlflow")
    assert case.calls == []


def test_a_difference_that_does_not_repeat_is_a_race_not_a_finding() -> None:
    """Another client created an experiment between the two reads: asked again, both answers agree."""
    recorder = _Recorder()
    answers = {"http://mlflow": [_Answer(200, b'{"experiments": [], "next_page_token": "x"}')] * 2,
               "http://proxy": [_Answer(200, b'{"experiments": [], "next_page_token": "x"}')]}

    class Racing(_Case):
        def call(self, base_url: str, **kwargs: Any) -> _Answer:
            self.calls.append(base_url)
            return answers[base_url].pop(0)

    case = Racing()
    compare_with_upstream(recorder, case, _Answer(200, b'{"experiments": []}'), "http://mlflow", "http://proxy", {})
    assert case.calls == ["http://mlflow", "http://proxy", "http://mlflow"] and recorder.findings == []
