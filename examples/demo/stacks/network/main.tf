# A stand-in network: terraform_data needs no provider download, so the demo runs offline.
# Its outputs feed the other stacks: `hosts` (Ansible) and `config` (Kubernetes) read
# them through `inputs:` in truenorth.yaml; `app` reads its state directly.
variable "cidr" {
  type    = string
  default = "10.0.0.0/16"
}

variable "api_token" {
  type      = string
  sensitive = true
  default   = "demo-token-not-a-secret"
}

resource "terraform_data" "vpc" {
  input = {
    name = "demo-vpc"
    cidr = var.cidr
  }
}

resource "terraform_data" "credentials" {
  input = var.api_token
}

output "vpc_id" {
  value = terraform_data.vpc.id
}

output "name" {
  value = terraform_data.vpc.output.name
}

output "cidr" {
  value = var.cidr
}

output "dns_servers" {
  value = [cidrhost(var.cidr, 2)]
}

# Sensitive: truenorth seals it at rest, hands it to `hosts` as a masked extra var and to
# `config` only inside a Secret, and shows it nowhere.
output "api_token" {
  value     = var.api_token
  sensitive = true
}
