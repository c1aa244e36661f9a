from __future__ import annotations

import pytest

from hokusai_contracts.domain.durations import format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("20s", 20), ("15m", 900), ("1h", 3600), ("30d", 2_592_000),
                                               ("45", 45), (" 1.5m ", 90)])
def test_durations_as_people_write_them(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "15 minutes", "-5s", "0s", "1w", "m"])
def test_anything_else_says_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match="e.g. 20s, 15m, 1h, 30d"):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(900, "15m"), (20, "20s"), (3600, "1h"), (90, "90s"), (86400, "1d")])
def test_written_back_shortest(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
