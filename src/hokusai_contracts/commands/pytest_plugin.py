"""The local stack as a pytest fixture, for this repository and any other.

Installed through the ``pytest11`` entry point, so a repository that has
``hokusai-contracts`` installed can write::

    def test_my_proxy(hokusai_stack):
        endpoints = hokusai_stack.endpoints
        ...

and run ``pytest --hokusai-proxy-cmd 'python -m my_proxy --port {port} ...'`` to put its own
proxy in the reference proxy's place. The stack is started once per session,
lazily (only when a test asks for it), and always stopped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hokusai_contracts.stack.definition import StackDefinition
from hokusai_contracts.stack.processes import ProcessStack, running_stack

__all__ = ["hokusai_stack", "hokusai_stack_definition"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hokusai-contracts")
    group.addoption("--hokusai-proxy-cmd", default=None,
                    help="run this proxy in the stack instead of the reference one ({port}, {auth_url}, {mlflow_url})")
    group.addoption("--hokusai-auth-profile", default="production", choices=["production", "contract"],
                    help="how the fake auth service answers bad keys")


@pytest.fixture(scope="session")
def hokusai_stack_definition(request: pytest.FixtureRequest) -> StackDefinition:
    """Override this fixture to change ports, profile or seeded keys of the session stack."""
    return StackDefinition(auth_profile=request.config.getoption("--hokusai-auth-profile"))


@pytest.fixture(scope="session")
def hokusai_stack(request: pytest.FixtureRequest,
                  hokusai_stack_definition: StackDefinition) -> Iterator[ProcessStack]:
    """A running local stack: real MLflow server, fake auth service, proxy, hop journals."""
    with running_stack(hokusai_stack_definition, request.config.getoption("--hokusai-proxy-cmd")) as stack:
        yield stack
