"""A declared remote backend (Terraform's built-in ``pg`` on a real PostgreSQL) is left alone.

The state then lives in the database: truenorth learns its identity with
``terraform state pull`` and still refuses plans made against an older state.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest

from tests.engines.terraform.conftest import Lab, stack
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth.core import runs
from truenorth.engines import sandbox
from truenorth.engines.terraform import TerraformEngine

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CANARY = "CANARY-pg-backend-secret"


def test_pg_backend_plan_apply_and_staleness(lab: Lab, engine: TerraformEngine, postgres_url: str) -> None:  # noqa: F811
    conn_str = postgres_url + "&sslmode=disable"
    config = f"""
terraform {{
  backend "pg" {{
    conn_str = "{conn_str}"
  }}
}}

variable "size" {{
  type    = number
  default = 1
}}

resource "terraform_data" "x" {{
  input = var.size
}}

output "token" {{
  value     = "{CANARY}"
  sensitive = true
}}
"""
    checkout = lab.checkout({"stacks/db/main.tf": config})
    spec = stack("db")
    # The test server listens on a Unix socket only: the operator lets the sandbox see it.
    socket_dir = Path(parse_qs(urlsplit(postgres_url).query)["host"][0])
    policy = sandbox.Policy(read_only=(socket_dir,))
    first = engine.plan(lab.ctx(spec, checkout, sandbox=policy))
    assert [item.action.value for item in first.changed] == ["create", "create"]
    result = engine.apply(lab.ctx(spec, checkout, sandbox=policy), first)
    assert result.ok, result.error
    # Outputs of a remote backend come from `output -json`, machine-read, never streamed.
    assert [(item.name, item.value, item.sensitive) for item in result.outputs] == [("token", CANARY, True)]
    assert CANARY not in "\n".join(lab.lines)
    state_dir = lab.data / "state" / "db"
    assert not (state_dir / "terraform.tfstate").exists()  # the state is in PostgreSQL
    with psycopg.connect(postgres_url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM terraform_remote_state.states").fetchone() or (0,)
    assert count == 1

    # A plan, then the state changes (another apply): the old plan is refused.
    second = engine.drift(
        lab.ctx(spec, checkout, sandbox=policy)
    )  # its own plan file: <revision>.drift.tfplan
    assert not second.has_changes
    bigger = stack("db", vars={"size": 2})
    third = engine.plan(lab.ctx(bigger, checkout, sandbox=policy))
    assert engine.apply(lab.ctx(bigger, checkout, sandbox=policy), third).ok
    stale = engine.apply(lab.ctx(spec, checkout, sandbox=policy), second)
    assert stale.status is runs.RunStatus.FAILED
    assert "changed since the plan" in stale.error
    # The state's sensitive output is known as a secret: nothing shows it.
    ctx = lab.ctx(spec, checkout, sandbox=policy)
    again = engine.plan(ctx)
    assert CANARY in ctx.redactor.secrets
    assert CANARY not in again.output and CANARY not in "\n".join(lab.lines)
