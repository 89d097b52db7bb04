"""The operator's Terraform CLI configuration is merged, not replaced (issue #15).

An air-gapped controller installs providers from a ``filesystem_mirror`` named in its own
``TF_CLI_CONFIG_FILE``; truenorth adds its plugin cache to that configuration, lets the
sandboxed ``init`` read the mirror, and says what to do when a provider cannot be installed.
The mirror here holds a stand-in provider executable (nothing can be downloaded here):
``init`` only installs it, which is what is under test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engines.terraform.conftest import Lab, stack
from truenorth.engines import sandbox
from truenorth.engines.protocol import EngineError
from truenorth.engines.terraform import TerraformEngine

pytestmark = pytest.mark.slow

TOKEN = "tn-offline-token-5b1e"

REQUIRES = """
terraform {
  required_providers {
    fake = { source = "truenorth-test/fake", version = "1.0.0" }
  }
}
"""


def operator_config(tmp_path: Path, mirror: Path) -> Path:
    path = tmp_path / "operator.tfrc"
    path.write_text(
        f"""
provider_installation {{
  filesystem_mirror {{
    path    = "{mirror}"
    include = ["registry.terraform.io/truenorth-test/*"]
  }}
  direct {{
    exclude = ["registry.terraform.io/truenorth-test/*"]
  }}
}}
credentials "registry.example.com" {{
  token = "{TOKEN}"
}}
"""
    )
    return path


def test_a_provider_from_the_operators_filesystem_mirror(
    lab: Lab, engine: TerraformEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    binary = (
        mirror / "registry.terraform.io/truenorth-test/fake/1.0.0/linux_amd64/terraform-provider-fake_v1.0.0"
    )
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 1\n")
    binary.chmod(0o755)
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(operator_config(tmp_path, mirror)))
    spec = stack("offline")
    checkout = lab.checkout({"stacks/offline/main.tf": REQUIRES})

    with pytest.raises(EngineError) as raised:
        engine.plan(lab.ctx(spec, checkout))  # init installs it; the stand-in cannot serve a plan
    message = str(raised.value)
    assert "init failed" not in message and "could not be installed" not in message, message
    assert "plan failed" in message
    installed = lab.cache_dir / "terraform-plugins/registry.terraform.io/truenorth-test/fake/1.0.0"
    assert installed.is_dir()
    merged = (lab.data / "state" / "offline" / "work" / "terraformrc").read_text()
    assert f'path    = "{mirror}"' in merged and "plugin_cache_dir" in merged
    assert TOKEN not in message and not any(TOKEN in line for line in lab.lines)


def test_a_provider_no_mirror_holds_gets_a_hint(
    lab: Lab, engine: TerraformEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "empty-mirror"
    mirror.mkdir()
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(operator_config(tmp_path, mirror)))
    checkout = lab.checkout({"stacks/offline/main.tf": REQUIRES})

    with pytest.raises(EngineError) as raised:
        engine.plan(lab.ctx(stack("offline"), checkout))
    message = str(raised.value)
    assert "Failed to query available provider packages" in message
    assert "a provider could not be installed" in message
    assert "filesystem_mirror or network_mirror" in message and "air-gapped" in message
    if sandbox.probe().works:
        assert str(mirror) in message  # Terraform looked in the mirror (bound into the sandbox)


def test_no_operator_configuration_is_truenorths_alone(
    lab: Lab, engine: TerraformEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TF_CLI_CONFIG_FILE", str(tmp_path / "missing.tfrc"))
    checkout = lab.checkout({"stacks/plain/main.tf": 'resource "terraform_data" "x" {}\n'})
    assert engine.plan(lab.ctx(stack("plain"), checkout)).has_changes
    merged = (lab.data / "state" / "plain" / "work" / "terraformrc").read_text()
    assert merged.startswith("plugin_cache_dir = ")
