# Issue #15: what a text plan must show. v1 is applied, v2 planned against it.
locals {
  zones = [for n in range(1, 16) : n == 9 ? "zone-nine" : "zone-${n}"]
}

# A new map key: `+ team = "infra"`, not `~ team = null -> "infra"`.
resource "terraform_data" "tags" {
  input = { env = "dev", owner = "net", team = "infra" }
}

# One element deep inside a long nested value changes.
resource "terraform_data" "deep" {
  input = {
    name = "cluster"
    spec = { pools = { default = { zones = local.zones, size = 3 } } }
  }
}

# A replacement.
resource "terraform_data" "gateway" {
  input            = "gw"
  triggers_replace = ["v2"]
}

# Unknown until applied.
resource "terraform_data" "fresh" {
  input = { created = true }
}

output "region" {
  value = "eu-2"
}

output "zones" {
  value = slice(local.zones, 0, 3)
}

output "fresh_id" {
  value = terraform_data.fresh.id
}

output "password" {
  value     = "canary-nested-secret-2"
  sensitive = true
}
