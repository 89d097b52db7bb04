# Issue #15: what a text plan must show. v1 is applied, v2 planned against it.
locals {
  zones = [for n in range(1, 16) : "zone-${n}"]
}

resource "terraform_data" "tags" {
  input = { env = "dev", owner = "net" }
}

resource "terraform_data" "deep" {
  input = {
    name = "cluster"
    spec = { pools = { default = { zones = local.zones, size = 3 } } }
  }
}

resource "terraform_data" "gateway" {
  input            = "gw"
  triggers_replace = ["v1"]
}

output "region" {
  value = "eu-1"
}

output "zones" {
  value = slice(local.zones, 0, 3)
}

output "password" {
  value     = "canary-nested-secret-1"
  sensitive = true
}
