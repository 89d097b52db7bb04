"""Go-style durations: strict, positive and bounded."""

from __future__ import annotations

import pytest

from truenorth.core import durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("10m", 600), ("1h30m", 5400), ("1d", 86400), ("500ms", 0.5), ("2h0m5s", 7205)],
)
def test_parse(text: str, seconds: float) -> None:
    assert durations.parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["", "-1s", "1e9h", "1.5h", "10", "m", "0s", "10 m", "1y", "721h", 10, None, True]
)
def test_rejects(text: object) -> None:
    with pytest.raises(durations.DurationError):
        durations.parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"), [(600, "10m"), (5400, "1h30m"), (0.5, "500ms"), (90061, "1d1h1m1s")]
)
def test_format(seconds: float, text: str) -> None:
    assert durations.format_duration(seconds) == text
