"""SEED=path: the fake auth service checks the file before anything starts; probe keys follow its primary."""

from __future__ import annotations

from pathlib import Path

import pytest

from hokusai_contracts._errors import UsageError
from hokusai_contracts.contracts.files import profile_seed_file
from hokusai_contracts.stack.seed import check_seed


def test_the_production_profiles_seed_passes() -> None:
    check_seed(profile_seed_file("production"))


@pytest.mark.parametrize(("text", "words"), [
    (None, "no such file"),
    ("keys: [", "not valid YAML"),
    ("keys:\n  - name: primary\n    service_id: platform\n    scopes: read\n", "scopes"),
    ("keys:\n  - name: other\n    service_id: platform\n", "named 'primary'"),
    ("keys:\n  - name: primary\n    service_id: website\n", "named 'primary'"),
])
def test_a_bad_seed_is_one_line_naming_seed(tmp_path: Path, text: str | None, words: str) -> None:
    path = tmp_path / "seed.yaml"
    if text is not None:
        path.write_text(text, "utf-8")
    with pytest.raises(UsageError) as caught:
        check_seed(path)
    message = str(caught.value)
    assert message.startswith("SEED: ") and words in message and "\n" not in message
