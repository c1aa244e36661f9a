"""The pytest plugin without a stack: its options, the masked reprs, the redacted failure text.

The plugin against a real stack, installed from the wheel in another project, is
tests/packaging/test_wheel.py::test_the_pytest_plugin_in_another_repository.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hokusai_contracts.stack.definition import StackDefinition
from hokusai_contracts.stack.processes import ProcessStack, StackEndpoints

KEY = "hk_live_" + "k" * 28 + "WXYZ"
OTHER = "hk_test_" + "o" * 28 + "ABCD"
ADMIN = "adm_" + "t" * 28 + "TOKN"


def _endpoints() -> StackEndpoints:
    return StackEndpoints(mlflow_url="http://127.0.0.1:1", auth_url="http://127.0.0.1:2",
                          proxy_root="http://127.0.0.1:3", proxy_url="http://127.0.0.1:3/api/mlflow", api_key=KEY,
                          admin_token=ADMIN, keys={"primary": {"name": "primary", "key": KEY},
                                               "other": {"name": "other", "key": OTHER}},
                          service_id="platform")


def test_the_stack_records_show_their_endpoints_with_the_secrets_masked() -> None:
    stack = ProcessStack(StackDefinition(admin_token=ADMIN), endpoints=_endpoints())
    for record in (stack, stack.endpoints, stack.definition):
        text = repr(record)
        for secret in (KEY, OTHER, ADMIN):
            assert secret not in text
    assert "proxy_url='http://127.0.0.1:3/api/mlflow'" in repr(stack)
    assert f"api_key='{KEY[:10]}...{KEY[-4:]}'" in repr(stack)
    assert f"admin_token='{ADMIN[:10]}...{ADMIN[-4:]}'" in repr(stack.definition)
    assert "parts=" not in repr(stack)  # the processes are noise in a failing test's locals


def _pytest(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=project,
                          capture_output=True, text=True, timeout=120)


def test_the_options_are_registered(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    helped = _pytest(tmp_path, "--help")
    assert "--hokusai-proxy-cmd" in helped.stdout and "--hokusai-auth-profile" in helped.stdout


def test_a_failing_test_that_holds_the_admin_token_shows_it_masked(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_it.py").write_text(
        "from pathlib import Path\n"
        "def test_token(hokusai_stack_definition):\n"
        "    token = hokusai_stack_definition.admin_token\n"
        "    Path('token.txt').write_text(token)\n"
        "    print('captured', token)\n"
        "    assert token == 'x', token\n"
        "def test_other_tests_are_left_alone():\n"
        "    assert 'hk_live_' + 'z' * 32 == ''\n")
    ran = _pytest(tmp_path, "-vv", "-l", "-rA")
    output = ran.stdout + ran.stderr
    assert ran.returncode == 1 and "2 failed" in output, output
    token = (tmp_path / "token.txt").read_text()
    assert token not in output
    masked = f"{token[:10]}...{token[-4:]}"
    assert re.search(rf"^token +?= '{re.escape(masked)}'$", output, re.M), output  # the local (pytest -l)
    assert f"captured {masked}" in output  # the captured stdout
    assert f"FAILED test_it.py::test_token - AssertionError: {masked}" in output  # the one-line summary
    assert "hokusai_stack_definition = StackDefinition(" in output
    assert "'hk_live_" + "z" * 32 + "'" in output  # a test without the stack is not touched
