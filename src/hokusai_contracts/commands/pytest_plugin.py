"""The local stack as a pytest fixture, for this repository and any other.

Installed through the ``pytest11`` entry point, so a repository that has ``hokusai-contracts``
installed (from the wheel: the contracts and the fakes come with it) can write::

    def test_my_proxy(hokusai_stack):
        endpoints = hokusai_stack.endpoints
        ...

and run ``pytest --hokusai-proxy-cmd 'python -m my_proxy --port {port} ...'`` to put its own
proxy in the reference proxy's place (without the option, the reference proxy runs). The stack
is started once per session, lazily (only when a test asks for it), and always stopped.

Secrets stay masked in what a failing test prints: the stack's records have a masked repr (so
``pytest -l`` shows the endpoints, not the key), and the failure text of a test that uses the
stack is redacted with the session's key, seeded keys and admin token, wherever a test put them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Generator, Iterator, Sequence
from typing import Any

import pytest

from hokusai_contracts.domain.redact import redact
from hokusai_contracts.stack.definition import StackDefinition
from hokusai_contracts.stack.processes import ProcessStack, running_stack

__all__ = ["hokusai_stack", "hokusai_stack_definition"]

_SECRETS = pytest.StashKey[set[str]]()
_FIXTURES = frozenset({"hokusai_stack", "hokusai_stack_definition"})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hokusai-contracts")
    group.addoption("--hokusai-proxy-cmd", default=None,
                    help="run this proxy in the stack instead of the reference one ({port}, {auth_url}, {mlflow_url})")
    group.addoption("--hokusai-auth-profile", default="production", choices=["production", "contract"],
                    help="how the fake auth service answers bad keys")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SECRETS] = set()


@pytest.fixture(scope="session")
def hokusai_stack_definition(request: pytest.FixtureRequest) -> StackDefinition:
    """Override this fixture to change ports, profile or seeded keys of the session stack."""
    return StackDefinition(auth_profile=request.config.getoption("--hokusai-auth-profile"))


@pytest.fixture(scope="session")
def hokusai_stack(request: pytest.FixtureRequest,
                  hokusai_stack_definition: StackDefinition) -> Iterator[ProcessStack]:
    """A running local stack: real MLflow server, fake auth service, proxy, hop journals."""
    secrets = request.config.stash[_SECRETS]
    secrets.add(hokusai_stack_definition.admin_token)  # known before the start, which may fail and say why
    with running_stack(hokusai_stack_definition, request.config.getoption("--hokusai-proxy-cmd")) as stack:
        assert stack.endpoints is not None
        secrets.update(entry["key"] for entry in stack.endpoints.keys.values() if entry.get("key"))
        secrets.update((stack.endpoints.api_key, stack.endpoints.admin_token))
        yield stack


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport,
                                                                                            pytest.TestReport]:
    """Redact the failure text and captured output of a test that uses the stack."""
    report = yield
    if not _FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return report
    started: set[str] = item.config.stash.get(_SECRETS, set())
    known = set(started)
    definition = getattr(item, "funcargs", {}).get("hokusai_stack_definition")
    if isinstance(definition, StackDefinition):  # also when a test asks for the definition alone, or overrides it
        known.add(definition.admin_token)
    secrets = sorted(known, key=len, reverse=True)  # a key inside a longer secret must not split it
    if report.failed and report.longrepr is not None:
        redacted = _RedactedRepr(report.longrepr, secrets)
        if redacted.text != str(report.longrepr):
            report.longrepr = redacted  # type: ignore[assignment]  # pytest's TerminalRepr protocol, not exported
    report.sections = [(title, redact(content, secrets)) for title, content in report.sections]
    return report


class _RedactedRepr:
    """A failure's text with the secrets masked, printed as pytest prints the original (less its colours).

    ``reprcrash`` keeps the one-line summary (``FAILED test - message``) a line, as it is for the original.
    """

    def __init__(self, original: object, secrets: Sequence[str]) -> None:
        self.text = redact(str(original), secrets)
        crash: Any = getattr(original, "reprcrash", None)  # pytest's ReprFileLocation, a dataclass
        self.reprcrash: Any = (dataclasses.replace(crash, message=redact(crash.message, secrets))
                               if crash is not None else None)

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text
