# Second revision: a replace (both orders), a delete, an update, a no-op, a
# deferred read of terraform_remote_state and changed outputs (one sensitive).
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
  input            = var.cidr
  triggers_replace = ["v2"]
}

resource "terraform_data" "token" {
  input = var.secret
}

resource "terraform_data" "tags" {
  input = { env = "prod", owner = "net" }
}

resource "terraform_data" "gateway" {
  input            = "gw-1"
  triggers_replace = "v2"
  lifecycle {
    create_before_destroy = true
  }
}

data "terraform_remote_state" "shared" {
  backend = "local"
  config = {
    path = "../shared/terraform.tfstate"
  }
  depends_on = [terraform_data.tags]
}

# Read at plan time: its sensitive api_key output shows up in prior_state.
data "terraform_remote_state" "shared_now" {
  backend = "local"
  config = {
    path = "../shared/terraform.tfstate"
  }
}

output "cidr" {
  value = terraform_data.vpc.output
}

output "token" {
  value     = "${var.secret}-rotated"
  sensitive = true
}

output "zone" {
  value = data.terraform_remote_state.shared.outputs.zone
}
