# First revision: everything is created from an empty state.
variable "secret" {
  type      = string
  sensitive = true
  default   = "CANARY-s3cr3t-value"
}

variable "cidr" {
  type    = string
  default = "10.0.0.0/16"
}

resource "terraform_data" "vpc" {
  input = var.cidr
}

resource "terraform_data" "token" {
  input = var.secret
}

resource "terraform_data" "old" {
  input = "legacy"
}

resource "terraform_data" "tags" {
  input = { env = "dev", owner = "net" }
}

resource "terraform_data" "gateway" {
  input = "gw-1"
  lifecycle {
    create_before_destroy = true
  }
}

output "cidr" {
  value = terraform_data.vpc.output
}

output "token" {
  value     = var.secret
  sensitive = true
}
