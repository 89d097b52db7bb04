"""Bad input is refused before Ansible runs: escaping paths, missing files, vault problems.

Each case is a clear :class:`EngineError` from ``plan`` (and a failed result from
``apply``) naming the stack's own input; no ansible-playbook process is started, so
these tests are fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.engines.ansible.conftest import Lab, encrypt, inline_vault, local_inventory, stack
from truenorth.core import plans, redaction, runs, specs
from truenorth.engines import protocol
from truenorth.engines.ansible import AnsibleEngine, inputs, paths, vaults

SITE = "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: msg=hi\n"
PASSWORD = "correct horse battery staple"


def _commit(
    lab: Lab, extra: dict[str, str] | None = None, *, links: dict[str, str] | None = None
) -> tuple[str, Path]:
    files: dict[str, str | bytes] = {
        "stacks/hosts/site.yml": SITE,
        "stacks/hosts/inventory.yml": local_inventory(lab),
    }
    files.update(extra or {})
    return lab.commit(files, links=links)


def _empty_plan(
    lab: Lab, spec: specs.StackSpec, checkout: Path, *, revision: str, fingerprint_of: str
) -> plans.Plan:
    return plans.Plan(
        stack="hosts",
        engine="ansible",
        revision=revision,
        changes=(),
        summary=plans.PlanSummary(),
        fingerprint=inputs.fingerprint(lab.ctx(spec, checkout, revision=fingerprint_of)),
    )


def _refused(
    lab: Lab, engine: AnsibleEngine, spec: specs.StackSpec, checkout: Path, sha: str, **extra: Any
) -> str:
    with pytest.raises(protocol.EngineError) as caught:
        engine.plan(lab.ctx(spec, checkout, revision=sha, **extra))
    plan = _empty_plan(lab, spec, checkout, revision=sha, fingerprint_of=sha)
    result = engine.apply(lab.ctx(spec, checkout, revision=sha, **extra), plan)
    assert result.status is runs.RunStatus.FAILED
    assert result.error == str(caught.value)
    assert lab.lines == [], "nothing ran"
    return str(caught.value)


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("playbook", "../other/site.yml", "playbook path refused: '../other/site.yml' leaves its folder"),
        ("playbook", "/etc/passwd", "playbook path refused: '/etc/passwd' is absolute"),
        ("playbook", "%2e%2e/site.yml", "encoded path character"),
        ("playbook", "-x.yml", "starts with '-'"),
        ("inventory", "../../inventory.yml", "inventory path refused"),
        ("playbook", "missing.yml", "playbook 'missing.yml' not found in the stack folder 'stacks/hosts'"),
        ("inventory", "nope.yml", "inventory 'nope.yml' not found"),
        ("limit", "-e@/etc/passwd", "limit '-e@/etc/passwd' refused"),
    ],
)
def test_bad_paths_and_options_are_refused(
    lab: Lab, engine: AnsibleEngine, option: str, value: str, expected: str
) -> None:
    sha, checkout = _commit(lab, {"stacks/other/site.yml": SITE})
    options = {"inventory": "inventory.yml", option: value}
    message = _refused(lab, engine, stack(**options), checkout, sha)
    assert expected in message


def test_symlinked_playbook_leaving_the_stack_folder_is_refused(lab: Lab, engine: AnsibleEngine) -> None:
    sha, checkout = _commit(
        lab, {"stacks/other/site.yml": SITE}, links={"stacks/hosts/linked.yml": "../other/site.yml"}
    )
    message = _refused(lab, engine, stack(playbook="linked.yml", inventory="inventory.yml"), checkout, sha)
    assert "playbook path refused" in message and "outside" in message


def test_any_symlink_leaving_the_stack_folder_is_refused(lab: Lab, engine: AnsibleEngine) -> None:
    sha, checkout = _commit(
        lab,
        {"stacks/other/secret.txt": "not yours\n"},
        links={"stacks/hosts/templates/app.j2": "../../other/secret.txt"},
    )
    message = _refused(lab, engine, stack(inventory="inventory.yml"), checkout, sha)
    assert message == "templates/app.j2 is a symlink that points outside the stack folder; refused"


def test_symlinks_inside_the_stack_folder_are_fine(lab: Lab) -> None:
    sha, checkout = _commit(lab, links={"stacks/hosts/main.yml": "site.yml"})
    ready = inputs.prepare(lab.ctx(stack(playbook="main.yml"), checkout, revision=sha))
    assert ready.playbook.name == "site.yml"


def test_a_missing_stack_folder(lab: Lab, engine: AnsibleEngine) -> None:
    sha, checkout = _commit(lab)
    message = _refused(lab, engine, stack(path="stacks/gone"), checkout, sha)
    assert message == "the stack folder 'stacks/gone' does not exist at this revision"


def test_stack_folder_entry_limit(lab: Lab) -> None:
    _sha, checkout = _commit(lab, {f"stacks/hosts/files/f{i}": "x" for i in range(30)})
    with pytest.raises(protocol.EngineError, match="more than 20 files and folders"):
        paths.stack_files(checkout / "stacks/hosts", max_entries=20)


def test_vault_reference_without_a_resolved_secret(lab: Lab, engine: AnsibleEngine) -> None:
    sha, checkout = _commit(lab)
    message = _refused(lab, engine, stack(vault_password="deploy_vault"), checkout, sha)
    assert message.startswith("vault password reference 'deploy_vault' is not resolved")


def test_vault_content_without_a_reference(lab: Lab, engine: AnsibleEngine) -> None:
    sha, checkout = _commit(lab, {"stacks/hosts/group_vars/all/vault.yml": encrypt("a: secret1\n", PASSWORD)})
    message = _refused(lab, engine, stack(), checkout, sha)
    assert (
        message
        == "group_vars/all/vault.yml is vault-encrypted but the stack declares no vault_password reference"
    )


def test_wrong_vault_password_names_the_file_and_never_the_password(lab: Lab, engine: AnsibleEngine) -> None:
    sha, checkout = _commit(lab, {"stacks/hosts/group_vars/all/vault.yml": encrypt("a: secret1\n", PASSWORD)})
    spec = stack(vault_password="deploy_vault")
    message = _refused(lab, engine, spec, checkout, sha, secrets={"vault_password": "wrong password!"})
    assert (
        message
        == "the vault password from reference 'deploy_vault' does not decrypt group_vars/all/vault.yml"
    )


def test_vault_plaintext_is_learned_from_files_and_inline_values(lab: Lab) -> None:
    vars_file = f"plain: visible\napi_key: {inline_vault('INLINE-CANARY-55', PASSWORD)}"
    sha, checkout = _commit(
        lab,
        {
            "stacks/hosts/group_vars/all/vault.yml": encrypt(
                "db_password: FILE-CANARY-91\nport: 5432\nenabled: true\nnested:\n  - deep-secret-value\n",
                PASSWORD,
            ),
            "stacks/hosts/host_vars/local.yml": vars_file,
            "stacks/hosts/files/cert.pem": encrypt("-----BEGIN KEY-----\nKEYBODY-CANARY\n", PASSWORD),
        },
    )
    redactor = redaction.Redactor()
    spec = stack(vault_password="deploy_vault")
    ready = inputs.prepare(
        lab.ctx(spec, checkout, revision=sha, secrets={"vault_password": PASSWORD}, redactor=redactor)
    )
    assert set(ready.vault_files) == {"group_vars/all/vault.yml", "host_vars/local.yml", "files/cert.pem"}
    assert {
        "FILE-CANARY-91",
        "deep-secret-value",
        "INLINE-CANARY-55",
        "KEYBODY-CANARY",
        PASSWORD,
    } <= redactor.secrets
    assert (
        "true" not in redactor.secrets
        and "5432" not in redactor.secrets
        and "visible" not in redactor.secrets
    )
    assert redactor("x FILE-CANARY-91 y INLINE-CANARY-55") == "x *** y ***"


def test_vault_scan_does_not_expand_yaml_aliases(lab: Lab) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
        for i in range(20)
    )
    _sha, checkout = _commit(
        lab, {"stacks/hosts/bomb.yml": bomb + f"s: {inline_vault('BOMB-SECRET', PASSWORD)}"}
    )
    stack_dir = checkout / "stacks/hosts"
    content = vaults.read_vault_content(
        stack_dir, paths.stack_files(stack_dir), password=PASSWORD, reference="r"
    )
    assert content.plaintexts == ("BOMB-SECRET",)


def test_stale_plans_are_refused(lab: Lab, engine: AnsibleEngine) -> None:
    sha, checkout = _commit(lab)
    spec = stack(inventory="inventory.yml")
    plan = _empty_plan(lab, spec, checkout, revision="f" * 40, fingerprint_of=sha)
    result = engine.apply(lab.ctx(spec, checkout, revision=sha), plan)
    assert result.status is runs.RunStatus.FAILED
    assert result.error.startswith("refusing to apply a stale plan: the plan is for revision ffffffffffff")
    other = stack(inventory="inventory.yml", limit="local")
    fresh = _empty_plan(lab, spec, checkout, revision=sha, fingerprint_of=sha)
    changed = engine.apply(lab.ctx(other, checkout, revision=sha), fresh)
    assert "the stack's options changed since the plan was made" in changed.error


def test_a_missing_ansible_playbook_binary(lab: Lab) -> None:
    engine = AnsibleEngine(playbook_binary="ansible-playbook-not-installed")
    assert engine.version() is None
    sha, checkout = _commit(lab)
    message = _refused(lab, engine, stack(inventory="inventory.yml"), checkout, sha)
    assert (
        message == "ansible-playbook-not-installed is not installed or not on PATH (ansible-core provides it)"
    )


def test_version_is_ansible_core() -> None:
    version = AnsibleEngine().version()
    assert version is not None and version.startswith("2.")
