# A stand-in network: terraform_data needs no provider download, so the demo runs offline.
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

output "cidr" {
  value = var.cidr
}

output "api_token" {
  value     = var.api_token
  sensitive = true
}
