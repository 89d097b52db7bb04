"""Every function that applies a pattern to untrusted text finishes on 1 MiB of hostile input.

Text from a repository, a webhook, an HTTP request or an engine's output must never cost
more than linear time: one commit subject or one URL path made a backtracking regular
expression run for hours on the event loop. Each test feeds one such function the inputs
that broke the old patterns (long runs of letters and digits, many ``x://`` prefixes,
unbalanced brackets and quotes, dotted runs without an end) and checks the *result*; the
per-test timeout is what fails when the time is not linear (the old code took hours, the
new one milliseconds, so 60 seconds is generous on a shared CI machine).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from truenorth import texts
from truenorth.core import durations, fieldpaths, outputs, redaction, specs
from truenorth.engines.ansible import running
from truenorth.engines.kubernetes import kustomizations, normalizing, substituting
from truenorth.engines.terraform import configs, versions
from truenorth.git import credentials, refs
from truenorth.git import errors as git_errors
from truenorth.server import logs, pushes, rejections, signatures
from truenorth.store import errors as store_errors

MIB = 1024 * 1024
ADVERSARIAL = {
    "letters": "a" * MIB,
    "letters and digits": "a1" * (MIB // 2),
    "digits": "1" * MIB + "x",
    "schemes": "x://" * (MIB // 4),
    "schemes with users": "x://a@" * (MIB // 6),
    "scheme then letters": "http://" + "a" * MIB,
    "at signs": "https://" + "@" * MIB,
    "brackets": "[(<{" * (MIB // 4),
    "dotted": "a." * (MIB // 2) + "a",
    "quotes": '"' + '\\"' * (MIB // 2),
    "comments": "/* " * (MIB // 3),
    "passwords": "password='" + " password=" * (MIB // 10),
    "controls": "\x1b[2J\r\u202e" * (MIB // 6),
}
CASES = pytest.mark.parametrize("text", list(ADVERSARIAL.values()), ids=list(ADVERSARIAL))
timeout = pytest.mark.timeout(60)


@timeout
@CASES
def test_url_credential_masking(text: str) -> None:
    masked = texts.mask_url_credentials(text)
    assert masked == text or "***@" in masked
    assert texts.mask_url_credentials("https://a:b@" * (MIB // 12)) == "https://***@" * (MIB // 12)


@timeout
@CASES
def test_redactor(text: str) -> None:
    redact = redaction.Redactor(["a" * 1000 + "b", "1" * 500 + "2", "canary-secret"])
    assert redact(text + "canary-secret").endswith("***")
    assert redact(text) == texts.mask_url_credentials(text)


@timeout
@CASES
def test_git_credentials_and_errors(text: str) -> None:
    assert credentials.redact(text) == texts.mask_url_credentials(text)
    assert isinstance(credentials.secrets_in(text), tuple)
    error = git_errors.GitError(text)
    assert len(error.message) <= git_errors.MAX_MESSAGE + 40
    with pytest.raises(git_errors.GitError):
        refs.check_ref(text)


@timeout
@CASES
def test_store_error_scrubbing(text: str) -> None:
    scrubbed = store_errors.scrub(text, ["canary-secret"])
    assert "canary-secret" not in scrubbed
    assert len(store_errors.describe(RuntimeError(text))) <= 400


@timeout
@CASES
def test_kustomize_remote_hosts(text: str) -> None:
    assert kustomizations.remote_host(text) in (None, "?", "x", "http", "a.a") or text.startswith("http")
    assert kustomizations.remote_host("a." * (MIB // 2) + "a:org/repo") == "a." * (MIB // 2) + "a"


@timeout
@CASES
def test_kubernetes_quantities(text: str) -> None:
    assert normalizing.canonical_quantity(text) is None
    assert normalizing.canonical_quantity("1e999999999") is None
    assert normalizing.canonical_quantity("0.5") == "500m"


SUBSTITUTIONS = {
    **ADVERSARIAL,
    "openings": "${" * (MIB // 2),
    "escapes": "$${" * (MIB // 3),
    "dollars then a name": "$" * MIB + "{a",
    "references": "${a}" * (MIB // 4),
    "unclosed default": "${a:=" + "x" * MIB,
    "names without end": "${a" * (MIB // 3),
}


@timeout
@pytest.mark.parametrize("text", list(SUBSTITUTIONS.values()), ids=list(SUBSTITUTIONS))
def test_kubernetes_substitution(text: str) -> None:
    value = outputs.InputValue(ref=outputs.InputRef("a", "up", "a"), value="b")
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}, "data": {"k": text}}
    try:
        substituting.Substitution({"a": value}, max_chars=MIB).apply(obj, label="core/ConfigMap/_cluster/x")
    except substituting.SubstitutionError as exc:
        assert str(exc).startswith("core/ConfigMap/_cluster/x: data.k: ")
    else:
        result = obj["data"]["k"]
        assert result in (text, text.replace("$${", "${"), "b" * (MIB // 4))


@timeout
@CASES
def test_terraform_backend_detection(text: str, tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text(text)
    assert configs.declares_backend(tmp_path) is False
    (tmp_path / "main.tf").write_text("terraform {\n" * (MIB // 12))
    assert configs.declares_backend(tmp_path) is False
    assert versions.parse_version(text) is None


@timeout
@CASES
def test_ansible_no_log_lines(text: str) -> None:
    event = {"event_data": {"res": {"censored": "hidden"}}, "stdout": (text + "\n") * 2}
    shown = running.hide_no_log_text(event)["stdout"]
    assert shown == "(output hidden: no_log)"


@timeout
@CASES
def test_spec_names_and_durations(text: str) -> None:
    with pytest.raises(durations.DurationError):
        durations.parse_duration(text)
    with pytest.raises(specs.SpecError):
        specs.parse_spec(f"stacks:\n  - name: '{text.replace(chr(39), '')}'\n    engine: terraform\n")


@timeout
@CASES
def test_field_paths_and_spec_inputs_and_outputs(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(fieldpaths.FieldPathError, match="at most 512 characters"):
        fieldpaths.parse(text)
    half = text[: MIB // 2]
    document = {
        "stacks": [
            {"name": "a", "engine": "kubernetes", "path": "a", "inputs": {half: half, "x": half}},
            {"name": "b", "engine": "kubernetes", "path": "b",
             "outputs": {half: {}, "y": {"object": half, "path": half, "namespace": half}}},
        ]
    }  # fmt: skip
    with pytest.raises(specs.SpecError):
        specs.parse_spec(json.dumps(document))
    # The scanner itself is linear too: lift the bounds and read 1 MiB in one path.
    monkeypatch.setattr(fieldpaths, "MAX_LENGTH", 8 * MIB)
    monkeypatch.setattr(fieldpaths, "MAX_STEPS", MIB)
    steps = ("a", text, 0)
    assert fieldpaths.parse(fieldpaths.render(steps)) == steps
    try:
        assert len(fieldpaths.parse("." + text)) >= 1
    except fieldpaths.FieldPathError as exc:
        assert exc.column is not None
    with pytest.raises(fieldpaths.FieldPathError, match="no field"):
        fieldpaths.extract({"a": {}}, ("a", text))


@timeout
@CASES
def test_webhook_signatures_and_payloads(text: str) -> None:
    for provider in signatures.PROVIDERS:
        headers = {
            "x-hub-signature-256": text,
            "x-gitlab-token": text,
            "x-gitea-signature": text,
            "authorization": f"Bearer {text}",
            "x-github-event": "push",
            "x-gitlab-event": "Push Hook",
            "x-gitea-event": "push",
            "x-github-delivery": text,
        }
        with pytest.raises(rejections.RejectedError):
            signatures.verify(provider, headers, text.encode(), secret="webhook-secret")
        body = json.dumps({"ref": text, "repository": {"clone_url": text}}).encode()
        with pytest.raises(rejections.RejectedError):
            pushes.parse(provider, {"x-github-event": "push", "x-gitlab-event": "Push Hook",
                                    "x-gitea-event": "push"}, body)  # fmt: skip


@timeout
@CASES
def test_log_records(text: str) -> None:
    keep = logs.RedactingFilter(["canary-secret"])
    record = logging.LogRecord("truenorth", logging.INFO, __file__, 1, "said %s", (text,), None)
    assert keep.filter(record)
    message = record.getMessage()
    assert "more bytes)" in message or len(message) < 100
    assert len(message) < logs.MAX_MESSAGE * 7
    assert "\x1b" not in message and "\u202e" not in message
    access = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/" + text, "1.1", 404), None,
    )  # fmt: skip
    assert keep.filter(access)
    line = access.getMessage()
    assert line.endswith('HTTP/1.1" 404') and len(line) < logs.MAX_REQUEST_TARGET * 7
