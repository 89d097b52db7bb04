"""Backend detection, the CLI config, the environment and argv lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from truenorth.engines.terraform import configs


def folder(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    "text",
    [
        'terraform {\n  backend "s3" {\n    bucket = "b"\n  }\n}\n',
        'terraform {\n  required_version = ">= 1.4"\n  backend "local" {}\n}\n',
        'terraform {\n  cloud {\n    organization = "o"\n  }\n}\n',
        'terraform{\nbackend   "gcs"{\n}\n}\n',
    ],
)
def test_declared_backends_are_found(tmp_path: Path, text: str) -> None:
    assert configs.declares_backend(folder(tmp_path, {"backend.tf": text, "main.tf": "# none\n"}))


@pytest.mark.parametrize(
    "text",
    [
        'data "terraform_remote_state" "x" {\n  backend = "local"\n  config = {}\n}\n',
        '# terraform {\n#   backend "s3" {}\n# }\n',
        '/*\nterraform {\n  backend "s3" {}\n}\n*/\n',
        'resource "x" "y" {\n  cloud {\n    name = "z"\n  }\n}\n',
        'terraform {\n  required_version = "backend \\"s3\\" {"\n}\n',
        "",
    ],
    ids=["remote-state-attribute", "line-comments", "block-comment", "cloud-elsewhere", "in-string", "empty"],
)
def test_no_backend_is_found_where_there_is_none(tmp_path: Path, text: str) -> None:
    assert not configs.declares_backend(folder(tmp_path, {"main.tf": text}))


def test_json_configuration_backends(tmp_path: Path) -> None:
    assert configs.declares_backend(
        folder(tmp_path, {"b.tf.json": json.dumps({"terraform": {"backend": {"s3": {}}}})})
    )
    other = tmp_path / "other"
    other.mkdir()
    assert not configs.declares_backend(
        folder(other, {"b.tf.json": json.dumps({"resource": {}}), "bad.tf.json": "{"})
    )


def test_our_own_backend_file_does_not_count(tmp_path: Path) -> None:
    folder(tmp_path, {configs.BACKEND_FILE: configs.backend_file(tmp_path / "state"), "main.tf": ""})
    assert not configs.declares_backend(tmp_path)


def test_backend_file_is_local_with_literal_absolute_paths(tmp_path: Path) -> None:
    state_dir = tmp_path / "odd ${dir} %{x}"
    data = json.loads(configs.backend_file(state_dir))
    local = data["terraform"]["backend"]["local"]
    assert local["path"] == f"{tmp_path}/odd $${{dir}} %%{{x}}/terraform.tfstate"
    assert local["workspace_dir"].endswith("/terraform.tfstate.d")


def test_cli_config_sets_the_plugin_cache(tmp_path: Path) -> None:
    text = configs.cli_config(tmp_path / 'a "quoted" dir')
    assert 'plugin_cache_dir = "' in text and '\\"quoted\\"' in text
    assert "disable_checkpoint = true" in text


def test_environment_is_minimal_and_explicit(tmp_path: Path) -> None:
    env = configs.environment(
        cli_config_file=tmp_path / "rc",
        data_dir=tmp_path / "data",
        plugin_cache_dir=tmp_path / "cache",
        base={"PATH": "/usr/bin", "HOME": "/home/x", "AWS_SECRET_ACCESS_KEY": "nope", "TF_LOG": "trace"},
    )
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/x",
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_CLI_CONFIG_FILE": str(tmp_path / "rc"),
        "TF_DATA_DIR": str(tmp_path / "data"),
        "TF_PLUGIN_CACHE_DIR": str(tmp_path / "cache"),
        "CHECKPOINT_DISABLE": "1",
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "-var=name=plain"),
        ("$(rm -rf /)", "-var=name=$(rm -rf /)"),
        (3, "-var=name=3"),
        (True, "-var=name=true"),
        (None, "-var=name=null"),
        (["a", 1], '-var=name=["a", 1]'),
        ({"b": 1, "a": "x"}, '-var=name={"a": "x", "b": 1}'),
    ],
)
def test_var_arguments_json_encode_non_strings(value: object, expected: str) -> None:
    assert configs.var_argument("name", value) == expected


def test_argv_lists(tmp_path: Path) -> None:
    plan = configs.plan_argv(
        "tf",
        plan_file=tmp_path / "p.tfplan",
        variables={"b": 1, "a": "x"},
        var_files=[tmp_path / "v.tfvars"],
    )
    assert plan == [
        "tf", "plan", "-input=false", "-no-color", "-detailed-exitcode", f"-out={tmp_path}/p.tfplan",
        "-var=a=x", "-var=b=1", f"-var-file={tmp_path}/v.tfvars",
    ]  # fmt: skip
    assert configs.workspace_argv("tf", "dev")[-2:] == ["--", "dev"]
    assert configs.apply_argv("tf", tmp_path / "p")[-2:] == ["-auto-approve", str(tmp_path / "p")]
    assert configs.init_argv("tf") == ["tf", "init", "-input=false", "-no-color"]
