"""Redaction: known secrets and URL credentials never survive, sensitivity masks apply."""

from __future__ import annotations

from truenorth.core import redaction


def test_url_credentials_are_removed() -> None:
    text = "fatal: could not read from https://alice:s3cr3t-token@git.example.com/org/repo.git (and ssh://git:pw@h/x)"
    out = redaction.redact_url_credentials(text)
    assert "s3cr3t-token" not in out and "alice" not in out and ":pw@" not in out
    assert "https://***@git.example.com/org/repo.git" in out


def test_known_secrets_are_masked_longest_first() -> None:
    red = redaction.Redactor(["hunter2-long", "hunter2-long-and-longer"])
    assert red("a hunter2-long-and-longer b hunter2-long") == "a *** b ***"


def test_multiline_secret_is_masked_line_by_line() -> None:
    red = redaction.Redactor(["line-one-secret\nline-two-secret"])
    assert red("error near line-two-secret") == "error near ***"
    assert red("line-one-secret\nline-two-secret") == "***\n***"


def test_a_value_with_a_trailing_newline_never_swallows_a_line_break() -> None:
    # A file-backed value (a Kustomize secretGenerator file) ends with its newline.
    red = redaction.Redactor(["dbpass\n", "  ldap-pw \r\n"])
    assert red("name: dbpass\n- mountPath: /x\n") == "name: ***\n- mountPath: /x\n"
    assert red("ldap-pw\r\nnext") == "***\r\nnext"
    assert red.secrets == frozenset({"dbpass", "ldap-pw"})
    assert red("\n\n") == "\n\n"


def test_short_values_are_not_masked() -> None:
    red = redaction.Redactor(["ab", ""])
    assert red("ab cd") == "ab cd"


def test_value_redacts_nested() -> None:
    red = redaction.Redactor(["canary-123"])
    assert red.value({"a": ["x canary-123"], "canary-123": 1}) == {"a": ["x ***"], "***": 1}


def test_mask_sensitive_follows_the_mask_shape() -> None:
    value = {"user": "admin", "password": "pw-canary", "list": ["a", "b"], "nested": {"k": "v"}}
    mask = {"password": True, "list": [False, True], "nested": True}
    assert redaction.mask_sensitive(value, mask) == {
        "user": "admin",
        "password": redaction.SENSITIVE_MARKER,
        "list": ["a", redaction.SENSITIVE_MARKER],
        "nested": redaction.SENSITIVE_MARKER,
    }
    assert redaction.mask_sensitive("whole", True) == redaction.SENSITIVE_MARKER
    assert sorted(redaction.sensitive_leaves(value, mask)) == ["b", "pw-canary", "v"]
