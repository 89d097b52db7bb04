"""Regenerate the ``terraform show -json`` fixtures from the configs in ``configs/``.

Run by hand with the real Terraform (``python tests/data/terraform/generate.py``);
the JSON files are committed so that the pure plan tests need no Terraform. They hold
the fake canary secrets in clear text, exactly as Terraform writes them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

__all__: list[str] = []

HERE = Path(__file__).resolve().parent


def _terraform(cwd: Path, *args: str, env: dict[str, str]) -> str:
    done = subprocess.run(["terraform", *args], cwd=cwd, env=env, check=False, capture_output=True, text=True)
    if done.returncode not in (0, 2):
        raise SystemExit(f"terraform {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def _show(cwd: Path, env: dict[str, str]) -> dict[str, object]:
    _terraform(cwd, "plan", "-input=false", "-no-color", "-out=plan.tfplan", env=env)
    data: dict[str, object] = json.loads(_terraform(cwd, "show", "-json", "plan.tfplan", env=env))
    for volatile in ("timestamp",):
        data.pop(volatile, None)
    return data


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        rc = root / "terraformrc"
        rc.write_text("disable_checkpoint = true\n")
        env = {
            "PATH": os.environ["PATH"],
            "HOME": tmp,
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "TF_CLI_CONFIG_FILE": str(rc),
        }
        shared = root / "shared"
        network = root / "network"
        shutil.copytree(HERE / "configs" / "shared", shared)
        shutil.copytree(HERE / "configs" / "network-v1", network)
        _terraform(shared, "init", "-input=false", env=env)
        _terraform(shared, "apply", "-input=false", "-auto-approve", env=env)
        _terraform(network, "init", "-input=false", env=env)
        create = _show(network, env)
        _terraform(network, "apply", "-input=false", "-auto-approve", "plan.tfplan", env=env)
        noop = _show(network, env)
        shutil.copy(HERE / "configs" / "network-v2" / "main.tf", network / "main.tf")
        changes = _show(network, env)
        for name, data in (("plan-create", create), ("plan-noop", noop), ("plan-changes", changes)):
            (HERE / f"{name}.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
        _nested(root, env)


def _nested(root: Path, env: dict[str, str]) -> None:
    """``plan-nested``: v1 applied, v2 planned; its JSON, ``terraform plan``'s standard
    output and ``terraform show``'s text of the same saved plan (issue #15)."""
    nested = root / "nested"
    shutil.copytree(HERE / "configs" / "nested-v1", nested)
    _terraform(nested, "init", "-input=false", env=env)
    _terraform(nested, "apply", "-input=false", "-auto-approve", env=env)
    shutil.copy(HERE / "configs" / "nested-v2" / "main.tf", nested / "main.tf")
    planned = _terraform(nested, "plan", "-input=false", "-no-color", "-out=plan.tfplan", env=env)
    shown = _terraform(nested, "show", "-no-color", "plan.tfplan", env=env)
    data = json.loads(_terraform(nested, "show", "-json", "plan.tfplan", env=env))
    data.pop("timestamp", None)
    (HERE / "plan-nested.json").write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    (HERE / "plan-nested.stdout.txt").write_text(planned)
    (HERE / "plan-nested.show.txt").write_text(shown)


if __name__ == "__main__":
    main()
