"""What every test gets: an environment free of the developer's settings.

The tool reads ``HOKUSAI_*`` from the environment and from a ``.env`` in the working directory
(pydantic-settings), and MLflow reads ``MLFLOW_*`` (a tracking URI, a token). A developer's shell or
``.env`` must change no test's outcome, in-process or in the CLI processes tests start (they inherit
``os.environ`` and the working directory). As httpx's ``clean_environ`` does, every test starts
without them; monkeypatch puts everything back afterwards. Tests that need a setting set it
themselves (``monkeypatch.setenv``), after this fixture has run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

#: Prefixes of the variables the tool (HOKUSAI_) and the MLflow client and server (MLFLOW_) read.
ISOLATED_PREFIXES = ("HOKUSAI_", "MLFLOW_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(ISOLATED_PREFIXES):
            monkeypatch.delenv(name)
    # A directory of its own, not tmp_path: code that writes to the working directory must not
    # change what a test finds in its tmp_path. Per test (function scope), so under pytest-xdist
    # each worker's tests get directories of their own under that worker's base temp.
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
    yield
