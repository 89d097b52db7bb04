"""Terraform state in PostgreSQL (the ``pg`` backend), one schema per stack, for replicas.

The pure part (schema names, backend file, environment) is unit-tested; one test runs
the real ``terraform init``/``apply``/``output`` with the backend :mod:`pgstate`
computes against the throwaway PostgreSQL, and a dependent stack reads the first one's
outputs with ``terraform_remote_state`` through the same backend.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import psycopg
import pytest

from tests.engines.terraform.conftest import TERRAFORM
from tests.support.postgres import postgres_server, postgres_url  # noqa: F401
from truenorth.engines.terraform import pgstate

REPO = "https://git.example/team/infra.git#main"
CANARY = "CANARY-pg-password"


def test_schema_names_are_safe_bounded_stable_and_distinct() -> None:
    name = pgstate.schema_name(REPO, "network")
    assert re.fullmatch(r"tn_infra_main_network_[0-9a-f]{16}", name)
    assert pgstate.schema_name(REPO, "network") == name
    hostile = pgstate.schema_name(
        'https://x.example/"; DROP SCHEMA public; --.git#' + "b" * 500, "Ünï-cødé" * 20
    )
    assert re.fullmatch(r"tn_[a-z0-9_]+", hostile) and len(hostile) <= pgstate.MAX_SCHEMA_LENGTH
    # Stacks whose readable parts are equal (or cut) still get different schemas.
    assert pgstate.schema_name(REPO, "a-b") != pgstate.schema_name(REPO, "a_b")
    assert pgstate.schema_name(REPO, "web") != pgstate.schema_name(REPO.replace("#main", "#dev"), "web")
    assert pgstate.schema_name("#", "!!!").startswith("tn_")


def test_the_connection_string_goes_only_into_the_environment() -> None:
    backend = pgstate.backend_for(REPO, "web", conn_str=f"postgresql+psycopg://u:{CANARY}@db/tn")
    assert json.loads(backend.file_text) == {
        "terraform": {"backend": {"pg": {"schema_name": backend.schema}}}
    }
    assert backend.env == {"PG_CONN_STR": f"postgresql://u:{CANARY}@db/tn"}
    assert CANARY not in backend.file_text and CANARY not in repr(backend)
    for bad in ("", "  ", "postgresql://db\n/x"):
        with pytest.raises(ValueError, match="connection string"):
            pgstate.backend_for(REPO, "web", conn_str=bad)
    with pytest.raises(ValueError, match="stack name"):
        pgstate.schema_name(REPO, "")


def _terraform(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [TERRAFORM, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow
@pytest.mark.postgres
def test_terraform_keeps_each_stacks_state_in_its_schema_and_dependents_read_it(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
) -> None:
    # Trust authentication ignores the password: it stands for a real secret to keep off disk.
    conn_str = f"{postgres_url}&sslmode=disable&password={CANARY}"
    network_dir, app_dir = tmp_path / "network", tmp_path / "app"
    network_dir.mkdir()
    app_dir.mkdir()
    (network_dir / "main.tf").write_text(
        'resource "terraform_data" "vpc" {\n  input = "10.0.0.0/16"\n}\n'
        'output "cidr" {\n  value = terraform_data.vpc.output\n}\n'
    )
    network = pgstate.backend_for(REPO, "network", conn_str=conn_str)
    app = pgstate.backend_for(REPO, "app", conn_str=conn_str)
    (app_dir / "main.tf").write_text(
        'data "terraform_remote_state" "network" {\n  backend = "pg"\n'
        f'  config  = {{ schema_name = "{network.schema}" }}\n}}\n'
        'output "cidr" {\n  value = data.terraform_remote_state.network.outputs.cidr\n}\n'
    )
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "TF_IN_AUTOMATION": "1",
    }
    for folder, backend in ((network_dir, network), (app_dir, app)):
        (folder / "zz_truenorth_backend.tf.json").write_text(backend.file_text)
        env = {**base, **backend.env}
        _terraform(folder, env, "init", "-input=false", "-no-color")
        _terraform(folder, env, "apply", "-input=false", "-auto-approve", "-no-color")
    outputs = json.loads(_terraform(app_dir, {**base, **app.env}, "output", "-json"))
    assert outputs["cidr"]["value"] == "10.0.0.0/16"

    with psycopg.connect(postgres_url) as conn:
        schemas = {row[0] for row in conn.execute("SELECT schema_name FROM information_schema.schemata")}
        assert {network.schema, app.schema} <= schemas
        count = conn.execute(f'SELECT count(*) FROM "{network.schema}".states').fetchone()
        assert count == (1,)
    assert not (network_dir / "terraform.tfstate").exists()  # nothing on the replica's disk
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), f"the connection string leaked into {path}"
