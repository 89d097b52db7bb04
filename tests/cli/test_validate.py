"""`truenorth validate` and `truenorth schema` on working trees."""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.cli.conftest import Invoke


def make_tree(root: Path, spec: str, folders: tuple[str, ...] = ("a",)) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "truenorth.yaml").write_text(spec)
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
    return root


def test_valid_tree(tmp_path: Path, invoke: Invoke) -> None:
    root = make_tree(tmp_path / "r", "stacks:\n  - {name: a, engine: terraform, path: a}\n")
    result = invoke("validate", str(root))
    assert result.exit_code == 0
    assert "1 stack(s): a" in result.stdout


def test_errors_name_file_and_field(tmp_path: Path, invoke: Invoke) -> None:
    root = make_tree(
        tmp_path / "r",
        "stacks:\n"
        "  - {name: a, engine: terraform, path: missing}\n"
        "  - {name: b, engine: terraform, path: a, var_files: [nope.tfvars]}\n",
    )
    result = invoke("validate", str(root), "-o", "json")
    assert result.exit_code == 1
    errors = json.loads(result.stdout)["errors"]
    fields = {(e["file"], e["field"]) for e in errors}
    assert ("truenorth.yaml", "stacks[0].path") in fields
    assert ("truenorth.yaml", "stacks[1].var_files[0]") in fields


def test_symlink_escaping_the_stack_is_refused(tmp_path: Path, invoke: Invoke) -> None:
    root = make_tree(
        tmp_path / "r",
        "stacks:\n  - {name: a, engine: terraform, path: a}\n  - {name: b, engine: terraform, path: b}\n",
        folders=("a", "b"),
    )
    os.symlink("/etc/passwd", root / "a" / "passwd.tf")
    os.symlink("../b", root / "a" / "other-stack")
    result = invoke("validate", str(root))
    assert result.exit_code == 1
    assert "passwd.tf" in result.stderr and "outside the stack folder" in result.stderr
    assert "other-stack" in result.stderr


def test_stack_path_symlinked_out_of_repository(tmp_path: Path, invoke: Invoke) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = make_tree(tmp_path / "r", "stacks:\n  - {name: a, engine: terraform, path: a}\n", folders=())
    os.symlink(outside, root / "a")
    result = invoke("validate", str(root))
    assert result.exit_code == 1
    assert "escapes the repository" in result.stderr


def test_missing_spec(tmp_path: Path, invoke: Invoke) -> None:
    (tmp_path / "empty").mkdir()
    result = invoke("validate", str(tmp_path / "empty"))
    assert result.exit_code == 1
    assert "no truenorth.yaml" in result.stderr


def test_schema_is_json(invoke: Invoke) -> None:
    result = invoke("schema")
    assert result.exit_code == 0
    assert json.loads(result.stdout)["title"] == "truenorth repository spec"
