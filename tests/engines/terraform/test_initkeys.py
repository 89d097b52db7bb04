"""The init key (what ``terraform init`` reads) and the block scan it stands on; no Terraform."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2
import pytest

from truenorth.engines.terraform import blocks, initkeys, variables

MAIN = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = "~> 5.0" }
  }
}

# a comment with { braces }
provider "aws" {
  region = "eu-west-1"
}

module "net" {
  source  = "../modules/net"
  version = "1.2.0"
  cidr    = "10.0.0.0/16"
  tags    = { source = "not the module source" }
}

resource "aws_instance" "web" {
  ami  = "ami-${var.x}"
  tags = { Name = "web" }
}

variable "x" { default = "1" }
output "ip" { value = aws_instance.web.private_ip }
"""


def key_of(tmp_path: Path, files: dict[str, str], *, tofu: bool = False) -> str:
    tree = tmp_path / "tree"
    if tree.exists():
        for path in sorted(tree.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
    for rel, text in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(text)
    return initkeys.init_key(tree / "stack", tree=tree, tofu=tofu)


def test_scan_finds_top_level_blocks_and_their_labels() -> None:
    found = blocks.scan(MAIN)
    assert found.complete
    assert [(b.type, b.labels) for b in found.blocks] == [
        ("terraform", ()),
        ("provider", ("aws",)),
        ("module", ("net",)),
        ("resource", ("aws_instance", "web")),
        ("variable", ("x",)),
        ("output", ("ip",)),
    ]
    assert len(blocks.blank(MAIN)) == len(MAIN)


@pytest.mark.parametrize(
    "text",
    [
        'resource "a" "b" {\n',  # unclosed
        "}\n",  # stray
        'x = 1\nresource "a" "b" {}\n',  # an attribute at the top
        "a" * 200_000 + " = {\n}\n",  # a long non-header
        '"\\"' * 100_000,  # strings that never end
        "{" * 100_000,
        "/*" * 100_000,
    ],
)
def test_scan_says_when_it_does_not_understand_a_file(text: str) -> None:
    assert not blocks.scan(text).complete


def test_the_key_ignores_what_init_does_not_read(tmp_path: Path) -> None:
    module = {"modules/net/main.tf": 'variable "cidr" {}\nresource "aws_vpc" "v" { cidr_block = var.cidr }\n'}
    base = key_of(tmp_path, {"stack/main.tf": MAIN, **module})
    unchanged = [
        MAIN.replace('ami  = "ami-${var.x}"', 'ami = "ami-2"'),  # a resource's arguments
        MAIN.replace('"eu-west-1"', '"us-east-1"'),  # a provider's settings
        MAIN.replace('cidr    = "10.0.0.0/16"', 'cidr = "10.1.0.0/16"'),  # a module's inputs
        MAIN.replace('source = "not the module source"', 'source = "other"'),  # nested, not the source
        MAIN.replace('default = "1"', 'default = "2"'),  # a variable
        MAIN.replace("private_ip", "public_ip"),  # an output
        MAIN.replace("# a comment", "# another comment"),
        MAIN + 'resource "aws_instance" "db" { ami = "x" }\n',  # one more of a known provider
    ]
    for text in unchanged:
        assert key_of(tmp_path, {"stack/main.tf": text, **module}) == base, text
    other_module = {"modules/net/main.tf": module["modules/net/main.tf"].replace("cidr_block", "cidr_block ")}
    assert key_of(tmp_path, {"stack/main.tf": MAIN, **other_module}) == base
    # Another folder's files are not this module's.
    assert key_of(tmp_path, {"stack/main.tf": MAIN, **module, "other/main.tf": "terraform {}\n"}) == base


def test_the_key_follows_what_init_reads(tmp_path: Path) -> None:
    module = {"modules/net/main.tf": 'resource "aws_vpc" "v" {}\n'}
    base = key_of(tmp_path, {"stack/main.tf": MAIN, **module})
    changed = [
        MAIN.replace('"~> 5.0"', '"~> 6.0"'),  # a provider version
        MAIN.replace("terraform {", 'terraform {\n  backend "s3" { bucket = "b" }'),  # a backend
        MAIN.replace('version = "1.2.0"', 'version = "1.3.0"'),  # a module version
        MAIN.replace('"../modules/net"', '"../modules/net2"'),  # a module source
        MAIN + 'resource "random_pet" "p" {}\n',  # a provider implied by a resource type
        MAIN + 'data "http" "h" { url = "x" }\n',  # ...or a data source
        MAIN + 'resource "aws_s3_bucket" "b" { provider = awsalt.west }\n',  # a provider reference
        MAIN + 'provider "google" {}\n',  # a provider block
        MAIN + 'check "c" {\n  data "http" "h" { url = "x" }\n}\n',  # any other block, whole
        MAIN + "resource {\n",  # a file the scan does not understand: whole
    ]
    for text in changed:
        assert key_of(tmp_path, {"stack/main.tf": text, **module}) != base, text
    # A local module's own requirements count too.
    provider_in_module = {"modules/net/main.tf": 'resource "aws_vpc" "v" {}\nresource "tls_key" "k" {}\n'}
    assert key_of(tmp_path, {"stack/main.tf": MAIN, **provider_in_module}) != base
    # So do JSON files.
    json_file = '{"terraform": {"required_providers": {"x": {"source": "a/x"}}}}'
    assert key_of(tmp_path, {"stack/main.tf": MAIN, "stack/extra.tf.json": json_file, **module}) != base


def test_opentofu_keys_variables_and_locals_too(tmp_path: Path) -> None:
    """OpenTofu may use variables and locals in a backend or a module source (early evaluation)."""
    files = {"stack/main.tf": MAIN}
    changed = {"stack/main.tf": MAIN.replace('default = "1"', 'default = "2"')}
    assert key_of(tmp_path, files) == key_of(tmp_path, changed)
    assert key_of(tmp_path, files, tofu=True) != key_of(tmp_path, changed, tofu=True)


def test_sensitive_variables_parse_only_the_blocks_that_may_be_sensitive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parsed: list[str] = []
    real = hcl2.loads

    def counting(text: str, *args: Any, **kwargs: Any) -> Any:
        parsed.append(text)
        return real(text, *args, **kwargs)

    monkeypatch.setattr(hcl2, "loads", counting)
    (tmp_path / "main.tf").write_text(MAIN * 20)  # a big file without the word: never parsed
    (tmp_path / "vars.tf").write_text(
        'variable "password" {\n  sensitive = true\n  default = "hunter2-secret"\n}\n'
        'variable "plain" { default = "visible" }\n'
        'output "o" {\n  value = var.password\n  sensitive = true\n}\n'
    )
    assert variables.sensitive_inputs(tmp_path, variables={}, var_files=[]) == ["hunter2-secret"]
    assert len(parsed) == 1 and parsed[0].startswith('variable "password"')

    # A file the scan does not understand is parsed whole, as before.
    parsed.clear()
    (tmp_path / "vars.tf").write_text(
        'variable "password" {\n  sensitive = true\n  default = <<EOT\n}\nEOT\n}\n'
    )
    variables.sensitive_inputs(tmp_path, variables={}, var_files=[])
    assert len(parsed) == 1 and parsed[0].count("variable") == 1 and "<<EOT" in parsed[0]
