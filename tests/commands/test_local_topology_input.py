"""Bad input for the MLflow side, the seed and the profile: one line naming it, exit 2, before anything
starts, nothing left behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize(("args", "env", "message"), [
    ([], {"HOKUSAI_MLFLOW_CMD": "mlflow server --port {prot}"}, "MLFLOW_CMD has an unknown placeholder {prot}"),
    (["--mlflow-cmd", "x {proxy_url}"], {}, "MLFLOW_CMD has an unknown placeholder {proxy_url}"),
    ([], {"HOKUSAI_MLFLOW_PREFIX": "mlflow x"}, "HOKUSAI_MLFLOW_PREFIX: must be a path such as /mlflow"),
    (["--mlflow-prefix", "/ml flow"], {}, "must be a path such as /mlflow"),
    ([], {"HOKUSAI_MLFLOW_PACKAGES": "httpx,==1"}, "MLFLOW_PACKAGES: '==1' is not a pip requirement"),
    ([], {"HOKUSAI_MLFLOW_PACKAGES": "mlflow==2.0"}, "MLFLOW_PACKAGES: 'mlflow==2.0' names MLflow itself"),
    ([], {"HOKUSAI_PROFILE": "staging"}, "PROFILE='staging' is not a profile; choose one of production"),
    (["--profile", "nope"], {}, "PROFILE='nope' is not a profile"),
    (["--mlflow-overlay", "/nonexistent/overlay.yaml"], {}, "MLFLOW_OVERLAY: cannot read the overlay"),
    ([], {"HOKUSAI_SEED_FILE": "/nonexistent/seed.yaml"}, "SEED: no such file /nonexistent/seed.yaml"),
    (["--stack", "docker", "--mlflow-cmd", "x {port}"], {}, "MLFLOW_CMD runs a process"),
    (["--stack", "docker", "--profile", "production"], {}, "the reference admin gateway (MLFLOW_GATEWAY"),
])
def test_bad_topology_input_is_one_line_exit_2_and_leaves_nothing(tmp_path: Path, args: list[str],
                                                                   env: dict[str, str], message: str) -> None:
    reports = tmp_path / "reports"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("HOKUSAI_")}
    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "local", "--report-dir", str(reports),
                                *args], capture_output=True, text=True, timeout=120, env={**clean, **env},
                               cwd=tmp_path)
    assert completed.returncode == 2, completed.stderr
    lines = completed.stderr.strip().splitlines()
    # One line; argparse's own refusals come after its usage lines, as for every option.
    assert message in lines[-1] and (len(lines) == 1 or lines[0].startswith("usage:")), lines
    assert "Traceback" not in completed.stderr
    assert list(tmp_path.iterdir()) == []  # no report folder, nothing else


def test_a_bad_seed_for_serve_stack_names_the_option(tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text("keys:\n  - name: someone\n    service_id: platform\n", "utf-8")
    completed = subprocess.run([sys.executable, "-m", "hokusai_contracts", "serve", "stack", "--seed", str(seed)],
                               capture_output=True, text=True, timeout=120)
    assert completed.returncode == 2
    assert completed.stderr.strip().splitlines()[-1].startswith("hokusai-contracts: error: --seed: ")
