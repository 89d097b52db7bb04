"""Parsing ``version -json`` and the minimum version."""

from __future__ import annotations

import pytest

from truenorth.engines.terraform import versions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"terraform_version": "1.11.4", "platform": "linux_amd64"}', "1.11.4"),
        ('{"terraform_version": "1.6.0-rc1"}', "1.6.0-rc1"),
        ('{"terraform_version": "v1.8.2"}', "1.8.2"),
        ('{"terraform_version": 1}', None),
        ('{"version": "1.2.3"}', None),
        ("Terraform v1.11.4", None),
        ("[]", None),
        ("", None),
    ],
)
def test_parse_version(text: str, expected: str | None) -> None:
    assert versions.parse_version(text) == expected


def test_problems() -> None:
    assert versions.problem("1.11.4", binary="terraform") is None
    assert versions.problem("1.4.0", binary="terraform") is None
    assert "too old" in str(versions.problem("1.3.9", binary="terraform"))
    assert "too old" in str(versions.problem("0.15.0", binary="terraform"))
    assert "did not report" in str(versions.problem(None, binary="terraform"))
    assert "unrecognised" in str(versions.problem("banana", binary="terraform"))
