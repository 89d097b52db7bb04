"""Replicas: the Terraform state of stacks without a backend lives in PostgreSQL.

Real ``terraform`` in the bubblewrap sandbox (as the other engine tests run it) against
the throwaway PostgreSQL (a Unix socket only): a stack applied through one data dir is
planned through another with no changes, a dependent reads its dependency's outputs
through ``.truenorth/deps/...`` filled from the dependency's schema, a local state is
moved into the schema once and never over a state already there, and the connection
string (its password) is in no file, line or error. The controller sets the URL on
PostgreSQL only.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import stat
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import psycopg
import pytest

from tests.engines.terraform.conftest import Lab, stack
from tests.support.postgres import PostgresServer, postgres_server, postgres_url  # noqa: F401
from truenorth import config
from truenorth.controller.actions import facade
from truenorth.engines import protocol, sandbox
from truenorth.engines.terraform import TerraformEngine, configs, pgstate, sharing

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

REPO = "https://git.example/team/infra.git#main"
# Trust authentication ignores the password: it stands for a real secret to keep off disk.
PASSWORD = "CANARY-shared-state-pw-4821"
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
variable "cidr" {
  type    = string
  default = "10.0.0.0/16"
}

resource "terraform_data" "vpc" {
  input = var.cidr
}

output "cidr" {
  value = terraform_data.vpc.output
}
"""
APP_TF = """\
data "terraform_remote_state" "network" {
  backend = "local"
  config  = { path = ".truenorth/deps/network/terraform.tfstate" }
  defaults = { cidr = "none" }
}

resource "terraform_data" "app" {
  input = data.terraform_remote_state.network.outputs.cidr
}

output "seen" {
  value = data.terraform_remote_state.network.outputs.cidr
}
"""
FILES = {"truenorth.yaml": SPEC, "stacks/network/main.tf": NETWORK_TF, "stacks/app/main.tf": APP_TF}


def _socket_dir(url: str) -> str:
    return parse_qs(urlsplit(url).query)["host"][0]


def _with_password(url: str) -> str:
    """``url`` with a password and its socket folder as a percent-encoded host (libpq's form)."""
    parts = urlsplit(url)
    return f"postgresql://postgres:{PASSWORD}@{quote(_socket_dir(url), safe='')}{parts.path}"


def _ctx(lab: Lab, name: str, checkout: Path, *, data: str, **extra: object) -> protocol.StackContext:
    """A context of ``name`` in the data dir ``data`` (one per replica)."""
    ctx = lab.ctx(stack(name, depends_on=["network"] if name == "app" else []), checkout, **extra)  # type: ignore[arg-type]
    root = lab.root / data
    return dataclasses.replace(ctx, state_dir=root / "state" / name, run_dir=root / "runs" / str(lab.runs))


def _states(url: str) -> dict[str, dict[str, object]]:
    """Each pgstate schema's default-workspace state, as PostgreSQL holds it."""
    found = {}
    with psycopg.connect(url) as conn:
        schemas = [
            row[0] for row in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tn_%'")
        ]
        for schema in schemas:
            row = conn.execute(f'SELECT data FROM "{schema}".states WHERE name = %s', ("default",)).fetchone()
            if row is not None:
                found[schema] = json.loads(row[0])
    return found


def _no_leak(lab: Lab, *texts: str) -> None:
    for path in lab.root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            assert PASSWORD.encode() not in data, f"the password leaked into {path}"
    for text in (*lab.lines, *texts):
        assert PASSWORD not in text


def test_a_stack_applied_through_one_data_dir_is_planned_through_another_and_dependents_read_it(
    lab: Lab,
    engine: TerraformEngine,
    postgres_url: str,  # noqa: F811
) -> None:
    shared = protocol.SharedState(repository=REPO, postgres_url=_with_password(postgres_url))
    checkout = lab.checkout(FILES)

    first = engine.plan(_ctx(lab, "network", checkout, data="a", shared_state=shared))
    assert first.meta["sandbox"] == "bubblewrap"
    assert {item.action.value for item in first.changed} == {"create"}
    applied = engine.apply(_ctx(lab, "network", checkout, data="a", shared_state=shared), first)
    assert applied.ok, applied.error
    assert [(item.name, item.value) for item in applied.outputs] == [("cidr", "10.0.0.0/16")]
    assert not (lab.root / "a" / "state" / "network" / "terraform.tfstate").exists()

    # Another replica's data dir: the state comes from the schema, nothing to change.
    elsewhere = engine.plan(_ctx(lab, "network", checkout, data="b", shared_state=shared))
    assert not elsewhere.has_changes, elsewhere.output
    again = engine.drift(_ctx(lab, "network", checkout, data="b", shared_state=shared))
    assert not again.has_changes and again.meta["init_ran"] is False  # one init per schema

    # The dependent reads the dependency's outputs through .truenorth/deps, from the schema.
    app_plan = engine.plan(_ctx(lab, "app", checkout, data="b", shared_state=shared))
    assert {item.action.value for item in app_plan.changed} == {"create"}
    assert [(item.name, item.value) for item in app_plan.planned_outputs] == [("seen", "10.0.0.0/16")]
    app_applied = engine.apply(_ctx(lab, "app", checkout, data="b", shared_state=shared), app_plan)
    assert app_applied.ok, app_applied.error
    assert not engine.plan(_ctx(lab, "app", checkout, data="a", shared_state=shared)).has_changes

    # A change of the dependency reaches the dependent through the schema.
    bigger = dataclasses.replace(
        _ctx(lab, "network", checkout, data="b", shared_state=shared),
        stack=stack("network", vars={"cidr": "10.1.0.0/16"}),
    )
    assert engine.apply(bigger, engine.plan(bigger)).ok
    follow = engine.plan(_ctx(lab, "app", checkout, data="a", shared_state=shared))
    assert [(item.name, item.value) for item in follow.planned_outputs] == [("seen", "10.1.0.0/16")]

    # Each stack's schema is the pgstate one; the state is in PostgreSQL only.
    held = _states(postgres_url)
    assert set(held) == {pgstate.schema_name(REPO, "network"), pgstate.schema_name(REPO, "app")}
    assert held[pgstate.schema_name(REPO, "app")]["outputs"] == {
        "seen": {"value": "10.0.0.0/16", "type": "string"}
    }
    for data in ("a", "b"):
        assert not list((lab.root / data / "state").glob("*/terraform.tfstate"))
    _no_leak(lab)

    # A Terraform error that would print the connection string shows it masked.
    broken = protocol.SharedState(repository=REPO, postgres_url=f"postgresql://postgres:{PASSWORD}@db%zz/x")
    with pytest.raises(protocol.EngineError) as failed:
        engine.plan(_ctx(lab, "network", checkout, data="c", shared_state=broken))
    assert "init failed" in str(failed.value)
    _no_leak(lab, str(failed.value))


def test_a_local_state_moves_into_the_schema_once_and_never_over_a_state(
    lab: Lab,
    engine: TerraformEngine,
    postgres_url: str,  # noqa: F811
) -> None:
    shared = protocol.SharedState(repository=REPO, postgres_url=_with_password(postgres_url))
    checkout = lab.checkout(FILES)
    # One controller on SQLite applied the stack: its state is a local file.
    local = engine.plan(_ctx(lab, "network", checkout, data="a"))
    assert engine.apply(_ctx(lab, "network", checkout, data="a"), local).ok
    state_file = lab.root / "a" / "state" / "network" / "terraform.tfstate"
    before = json.loads(state_file.read_text())
    # Another data dir applied it too, with another value (an older, diverging copy).
    other = dataclasses.replace(
        _ctx(lab, "network", checkout, data="b"), stack=stack("network", vars={"cidr": "192.168.0.0/16"})
    )
    assert engine.apply(other, engine.plan(other)).ok

    # Now replicas share the store: the first operation moves the local state into the schema.
    moved = engine.plan(_ctx(lab, "network", checkout, data="a", shared_state=shared))
    assert not moved.has_changes, moved.output
    assert any("moved the stack's local Terraform state into PostgreSQL" in line for line in lab.lines)
    kept = state_file.with_name("terraform.tfstate" + sharing.MIGRATED_SUFFIX)
    assert not state_file.exists() and json.loads(kept.read_text()) == before
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    schema = pgstate.schema_name(REPO, "network")
    in_schema = _states(postgres_url)[schema]
    # Terraform gives a first snapshot in a backend a lineage of its own; the content is the local one.
    assert (in_schema["resources"], in_schema["outputs"]) == (before["resources"], before["outputs"])

    # Once: the next operation pushes nothing.
    lab.lines.clear()
    assert not engine.plan(_ctx(lab, "network", checkout, data="a", shared_state=shared)).has_changes
    assert not any("PostgreSQL" in line for line in lab.lines)
    assert _states(postgres_url)[schema] == in_schema

    # The other data dir's diverging local state never overwrites the schema's.
    diverging = engine.plan(_ctx(lab, "network", checkout, data="b", shared_state=shared))
    assert not diverging.has_changes  # planned from the schema (10.0.0.0/16), not the local copy
    assert _states(postgres_url)[schema] == in_schema
    b_state = lab.root / "b" / "state" / "network" / "terraform.tfstate"
    assert not b_state.exists()
    assert b_state.with_name("terraform.tfstate" + sharing.NOT_MIGRATED_SUFFIX).is_file()
    assert any("was not copied over it" in line for line in lab.lines)

    # Back to local state (one controller on SQLite): refused, not planned from nothing.
    with pytest.raises(protocol.EngineError, match="moved into PostgreSQL"):
        engine.plan(_ctx(lab, "network", checkout, data="a"))
    _no_leak(lab)


def test_a_database_over_tcp_with_no_network_for_plans_is_refused_with_the_reason(
    lab: Lab, engine: TerraformEngine
) -> None:
    shared = protocol.SharedState(
        repository=REPO, postgres_url=f"postgresql://tn:{PASSWORD}@db.example:5432/tn"
    )
    checkout = lab.checkout(FILES)
    denied = sandbox.Policy(plan_network=False)
    with pytest.raises(protocol.EngineError) as refused:
        engine.plan(_ctx(lab, "network", checkout, data="a", shared_state=shared, sandbox=denied))
    message = str(refused.value)
    assert "deny_network_for_plans" in message and "terraform_state_url" in message
    assert PASSWORD not in message


def test_the_backend_reach_and_secrets_of_connection_strings() -> None:
    socket = pgstate.libpq_url("postgresql+psycopg://u:p%40ss@%2Fvar%2Frun%2Fpg:5433/tn?sslmode=disable")
    assert socket == "postgresql://u:p%40ss@/tn?sslmode=disable&host=%2Fvar%2Frun%2Fpg&port=5433"
    assert pgstate.reach(socket) == pgstate.Reach(network=False, sockets=(Path("/var/run/pg"),))
    assert pgstate.reach("postgresql://u@db/tn?sslrootcert=/etc/ca.pem").network
    assert pgstate.reach("postgresql://u@db/tn?sslrootcert=/etc/ca.pem").files == (Path("/etc/ca.pem"),)
    assert pgstate.reach("postgresql://u@/tn").network  # no host: lib/pq dials localhost
    assert {"p%40ss", "p@ss"} <= set(pgstate.secrets_of(socket))
    assert "s3cret" in pgstate.secrets_of("postgresql://u@/tn?host=/x&password=s3cret")
    plan = configs.plan_argv("terraform", plan_file=Path("p"), variables={}, var_files=[], lock=False)
    assert "-lock=false" in plan


def test_serve_shares_terraform_state_on_postgresql_only(
    tmp_path: Path,
    postgres_server: PostgresServer,  # noqa: F811
    postgres_url: str,  # noqa: F811
) -> None:
    repositories = (config.RepositoryConfig(name="infra", url=f"file://{tmp_path}/none.git"),)
    on_sqlite = facade.Controller(
        config.ControllerConfig(repositories=repositories, data_dir=tmp_path / "one")
    )
    try:
        assert on_sqlite.runtime.shared_state_url is None
    finally:
        asyncio.run(on_sqlite.stop())
    store = "postgresql+psycopg" + postgres_url.removeprefix("postgresql")
    on_postgres = facade.Controller(
        config.ControllerConfig(repositories=repositories, data_dir=tmp_path / "two", store_url=store)
    )
    try:
        assert on_postgres.runtime.shared_state_url == postgres_url
        assert on_postgres.runtime.shared_state("k") == protocol.SharedState("k", postgres_url)
    finally:
        asyncio.run(on_postgres.stop())
    # terraform_state_url (TRUENORTH_TERRAFORM_STATE_URL) wins, and is a secret.
    state_db = postgres_server.create_database()
    try:
        state_url = postgres_server.url(state_db).replace("postgres@", f"postgres:{PASSWORD}@")
        loaded = config.load_config(
            environ={
                "TRUENORTH_STORE_URL": postgres_url,
                "TRUENORTH_TERRAFORM_STATE_URL": state_url,
                "TRUENORTH_DATA_DIR": str(tmp_path / "three"),
            },
            overrides={"repo": f"file://{tmp_path}/none.git"},
        )
        assert PASSWORD in loaded.secret_values() and state_url in loaded.secret_values()
        assert PASSWORD not in repr(loaded)
        separate = facade.Controller(loaded)
        try:
            assert separate.runtime.shared_state_url == state_url
        finally:
            asyncio.run(separate.stop())
    finally:
        postgres_server.drop_database(state_db)
    with pytest.raises(config.ConfigError) as bad:
        config.load_config(environ={"TRUENORTH_TERRAFORM_STATE_URL": f"mysql://u:{PASSWORD}@db/x"})
    assert "terraform_state_url" in str(bad.value) and PASSWORD not in str(bad.value)
