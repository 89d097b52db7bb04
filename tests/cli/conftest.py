"""Fixtures for CLI tests: a real two-stack Terraform repository and a CLI runner."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.support.gitrepos import GitRepo
from truenorth.cli import main

#: A value that must never be shown, logged or stored (Terraform's own files aside).
CANARY = "tn-canary-7f3a9c21e5"

SPEC = """\
stacks:
  - name: network
    engine: terraform
    path: stacks/network
  - name: app
    engine: terraform
    path: stacks/app
    depends_on: [network]
"""

NETWORK_TF = """\
variable "token" {
  type      = string
  sensitive = true
  default   = "CANARY_VALUE"
}
variable "cidr" {
  type    = string
  default = "10.0.0.0/16"
}
resource "terraform_data" "vpc" {
  input = { cidr = var.cidr }
}
resource "terraform_data" "secret" {
  input = var.token
}
output "vpc_id" {
  value = terraform_data.vpc.id
}
output "cidr" {
  value = var.cidr
}
output "token" {
  value     = var.token
  sensitive = true
}
""".replace("CANARY_VALUE", CANARY)

APP_TF = """\
data "terraform_remote_state" "network" {
  backend = "local"
  config = {
    path = ".truenorth/deps/network/terraform.tfstate"
  }
  defaults = {
    vpc_id = "pending"
    cidr   = ""
  }
}
resource "terraform_data" "service" {
  input = {
    vpc  = data.terraform_remote_state.network.outputs.vpc_id
    cidr = data.terraform_remote_state.network.outputs.cidr
  }
}
"""


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


Invoke = Callable[..., Result]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def invoke(data_dir: Path) -> Invoke:
    """Run a truenorth command in-process; ``--data-dir`` is appended for data commands."""
    runner = CliRunner()

    def run(*args: str, with_data_dir: bool = True, input: str | None = None) -> Result:
        argv = list(args)
        if (
            with_data_dir
            and args
            and args[0]
            in ("plan", "apply", "history", "status", "render", "drift", "sync", "approve", "rollback")
        ):
            argv += ["--data-dir", str(data_dir)]
        outcome = runner.invoke(main.app, argv, input=input, catch_exceptions=False)
        return Result(outcome.exit_code, outcome.stdout, outcome.stderr)

    return run


@pytest.fixture
def tf_repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path / "repo")
    repo.commit(
        "two dependent stacks",
        {
            "truenorth.yaml": SPEC,
            "stacks/network/main.tf": NETWORK_TF,
            "stacks/app/main.tf": APP_TF,
        },
    )
    return repo
