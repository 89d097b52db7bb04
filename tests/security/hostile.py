"""The hostile GitOps repository the security suite serves to the controller.

One repository holds every kind of secret at once: a Terraform stack with a
``sensitive`` variable default (canary A) and a sensitive output, a manual Terraform
stack that reads that output through remote state, and a localhost Ansible stack with a
``no_log`` task (canary B) and a vault-encrypted vars file (canary C, encrypted with the
vault password F). Its branch name, commit subjects, stack folders, playbook, inventory,
host and task names carry HTML and shell metacharacters: a shell that ever sees one of
them creates a ``PWNED_*`` file (in the marks folder, or relative to the controller's
working directory), which the suite looks for.

:func:`breaking_files` is the later commit that makes every engine fail on purpose, with
error messages that would carry canaries A, B and C.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from tests.security.canaries import CANARIES

__all__ = [
    "ANSIBLE_DIR",
    "ANSIBLE_STACK",
    "AUTHOR",
    "BREAKING_SUBJECT",
    "FIRST_SUBJECT",
    "FRESH_STACK",
    "HOST",
    "MAIN_DIR",
    "MAIN_STACK",
    "MANUAL_STACK",
    "PRECONDITION_STACK",
    "SECOND_SUBJECT",
    "TASK",
    "VAULT_REFERENCE",
    "branch_name",
    "breaking_files",
    "first_files",
    "second_files",
]

A, B, C, F = (CANARIES[k].value for k in "ABCF")

# Stack names are restricted by the spec's regex; these use every character it allows.
MAIN_STACK = "tf.main-1_x"
MANUAL_STACK = "tf.manual"
FRESH_STACK = "tf.fresh"
PRECONDITION_STACK = "tf.precondition"
ANSIBLE_STACK = "hosts_1"
VAULT_REFERENCE = "demo-vault"

# Folders and file names are free text: shell and HTML metacharacters, a leading '-'.
MAIN_DIR = "stacks/-tf <b>main</b> $(touch PWNED_tfdir);`touch PWNED_tftick`"
ANSIBLE_DIR = "ansible/<i>hosts</i> $(touch PWNED_ansdir)|touch PWNED_anspipe"
PLAYBOOK = "play $(touch PWNED_play)&.yml"
INVENTORY = "inv;touch PWNED_inv.yml"
HOST = "web$(touch PWNED_host)<b>1</b>"
TASK = "app config <script>alert(1)</script> $(touch PWNED_task)"

# Git drops '<' and '>' from names; the rest stays.
AUTHOR = "Mallory $(touch PWNED_author) & javascript:alert(1)"
FIRST_SUBJECT = "<script>alert(1)</script>"
SECOND_SUBJECT = "javascript:alert(1) $(touch {marks}/PWNED_subject) `touch {marks}/PWNED_subtick`"
BREAKING_SUBJECT = '<img src=x onerror="alert(1)"> break every engine'


def branch_name(marks: Path) -> str:
    """A valid Git branch name that is HTML and a command substitution at once."""
    return f"tn/<script>alert(1)</script>/$(touch${{IFS}}{marks}/PWNED_branch)"


def _spec(*, base_dir: Path, fresh: bool) -> str:
    stacks = [
        {"name": MAIN_STACK, "engine": "terraform", "path": MAIN_DIR, "auto_apply": True},
        {
            "name": MANUAL_STACK,
            "engine": "terraform",
            "path": "stacks/manual",
            "depends_on": [MAIN_STACK],
        },
        {
            "name": ANSIBLE_STACK,
            "engine": "ansible",
            "path": ANSIBLE_DIR,
            "playbook": PLAYBOOK,
            "inventory": INVENTORY,
            "vault_password": VAULT_REFERENCE,
            "auto_apply": True,
            "extra_vars": {"base_dir": str(base_dir)},
        },
    ]
    if fresh:
        for name, path in ((FRESH_STACK, "stacks/fresh"), (PRECONDITION_STACK, "stacks/precondition")):
            stacks.append({"name": name, "engine": "terraform", "path": path, "auto_apply": True})
    return yaml.safe_dump({"stacks": stacks}, sort_keys=False)


def _main_tf(*, cidr: str, validation: bool) -> str:
    check = (
        """
  validation {
    condition     = length(var.token) > 100
    error_message = "the token ${var.token} is too short"
  }"""
        if validation
        else ""
    )
    return f"""\
variable "token" {{
  type      = string
  sensitive = true
  default   = "{A}"{check}
}}
variable "cidr" {{
  type    = string
  default = "{cidr}"
}}
resource "terraform_data" "vpc" {{
  input = {{ cidr = var.cidr }}
}}
resource "terraform_data" "secret" {{
  input = var.token
}}
output "token" {{
  value     = var.token
  sensitive = true
}}
output "cidr" {{
  value = var.cidr
}}
"""


PRECONDITION_TF = """\
variable "token" {
  type      = string
  sensitive = true
  default   = "CANARY"
}
resource "terraform_data" "secret" {
  input = var.token
  lifecycle {
    precondition {
      condition     = length(var.token) > 100
      error_message = "the token ${var.token} is too short"
    }
  }
}
""".replace("CANARY", A)

MANUAL_TF = """\
data "terraform_remote_state" "main" {
  backend = "local"
  config = {
    path = ".truenorth/deps/MAIN/terraform.tfstate"
  }
}
resource "terraform_data" "copy" {
  input = data.terraform_remote_state.main.outputs.token
}
resource "terraform_data" "cidr" {
  input = data.terraform_remote_state.main.outputs.cidr
}
""".replace("MAIN", MAIN_STACK)


def _playbook(*, level: str, failing: bool) -> str:
    failure = (
        f"""
    - name: hidden failure
      no_log: true
      ansible.builtin.fail:
        msg: "failing with {B} and {{{{ api_token }}}}"
"""
        if failing
        else ""
    )
    return f"""\
- hosts: all
  gather_facts: false
  vars_files:
    - secrets.yml
  tasks:
    - name: base folder
      ansible.builtin.file:
        path: "{{{{ base_dir }}}}"
        state: directory
        mode: "0755"
    - name: "{TASK}"
      ansible.builtin.copy:
        dest: "{{{{ base_dir }}}}/app.conf"
        content: "level={level}\\n"
        mode: "0644"
    - name: config holding the vault value (its diff would show it)
      ansible.builtin.copy:
        dest: "{{{{ base_dir }}}}/vault.conf"
        content: "token={{{{ api_token }}}}\\n"
        mode: "0600"
    - name: secret file
      no_log: true
      ansible.builtin.copy:
        dest: "{{{{ base_dir }}}}/nolog"
        content: "{B} {{{{ api_token }}}}\\n"
        mode: "0600"
    - name: show the vault value (truenorth must mask what Ansible prints)
      ansible.builtin.debug:
        msg: "the token is {{{{ api_token }}}}"
{failure}"""


def _inventory() -> str:
    host = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    return yaml.safe_dump({"all": {"hosts": {HOST: host}}}, sort_keys=True)


def _vault_file() -> bytes:
    vault = VaultLib([("default", VaultSecret(F.encode()))])
    encrypted: bytes = vault.encrypt(f"api_token: {C}\n".encode())
    return encrypted


def first_files(*, base_dir: Path) -> dict[str, str | bytes]:
    """The first commit: three stacks that converge (the manual one waits for approval)."""
    return {
        "truenorth.yaml": _spec(base_dir=base_dir, fresh=False),
        f"{MAIN_DIR}/main.tf": _main_tf(cidr="10.0.0.0/16", validation=False),
        f"{MAIN_DIR}/<img src=x onerror=alert(1)>$(touch PWNED_tffile).tf": "# a hostile file name\n",
        "stacks/manual/main.tf": MANUAL_TF,
        f"{ANSIBLE_DIR}/{PLAYBOOK}": _playbook(level="info", failing=False),
        f"{ANSIBLE_DIR}/{INVENTORY}": _inventory(),
        f"{ANSIBLE_DIR}/secrets.yml": _vault_file(),
    }


def second_files() -> dict[str, str | bytes]:
    """A change to the auto-applied stacks, pushed with a hostile subject and a webhook."""
    return {
        f"{MAIN_DIR}/main.tf": _main_tf(cidr="10.1.0.0/16", validation=False),
        f"{ANSIBLE_DIR}/{PLAYBOOK}": _playbook(level="debug", failing=False),
    }


def breaking_files(*, base_dir: Path) -> dict[str, str | bytes]:
    """Every engine fails, with messages that would carry canaries A, B and C.

    The applied Terraform stack gets a validation rule whose message interpolates the
    sensitive variable (Terraform 1.11 prints the value in that error); a new stack,
    never applied, fails the same way before truenorth has seen any of its state;
    another new stack fails a resource precondition whose message interpolates it
    (Terraform hides that message itself); the Ansible stack gets a failing ``no_log``
    task whose message holds B and C.
    """
    return {
        "truenorth.yaml": _spec(base_dir=base_dir, fresh=True),
        f"{MAIN_DIR}/main.tf": _main_tf(cidr="10.1.0.0/16", validation=True),
        "stacks/fresh/main.tf": _main_tf(cidr="10.9.0.0/16", validation=True),
        "stacks/precondition/main.tf": PRECONDITION_TF,
        f"{ANSIBLE_DIR}/{PLAYBOOK}": _playbook(level="debug", failing=True),
    }
