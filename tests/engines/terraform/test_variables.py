"""Sensitive input values are known before Terraform runs (validation errors print them)."""

from __future__ import annotations

from pathlib import Path

from truenorth.engines.terraform import variables

DATA = Path(__file__).resolve().parents[2] / "data" / "terraform" / "variables"


def test_every_value_a_sensitive_variable_can_take_is_found() -> None:
    found = variables.sensitive_inputs(
        DATA, variables={"token": "vars-secret-7", "plain": "x"}, var_files=[DATA / "prod.tfvars.json"]
    )
    assert set(found) == {
        "default-secret-1",
        "admin-secret-2",
        "8443",
        "p-secret-3",
        "json-secret-4",
        "auto-secret-5",
        "file-secret-6",
        "vars-secret-7",
    }


def test_nothing_sensitive_nothing_found(tmp_path: Path) -> None:
    (tmp_path / "main.tf").write_text('variable "a" {\n  default = "x"\n}\n')
    assert variables.sensitive_inputs(tmp_path, variables={"a": "y"}, var_files=[]) == []


def test_unparsable_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "broken.tf").write_text('variable "a" {\n  sensitive = true\n  default = "k-secret"\n')
    (tmp_path / "ok.tf").write_text('variable "b" {\n  sensitive = true\n  default = "b-secret"\n}\n')
    assert variables.sensitive_inputs(tmp_path, variables={}, var_files=[]) == ["b-secret"]
