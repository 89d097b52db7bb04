# The app reads the network stack's outputs from its local state: the app declares
# depends_on: [network], so truenorth shows it that state (read-only) at
# .truenorth/deps/network/terraform.tfstate, relative to the stack's folder.

variable "replicas" {
  type    = number
  default = 2
}

data "terraform_remote_state" "network" {
  backend = "local"
  config = {
    path = ".truenorth/deps/network/terraform.tfstate"
  }
  defaults = {
    vpc_id = "(network not applied yet)"
    cidr   = ""
  }
}

resource "terraform_data" "service" {
  input = {
    vpc      = data.terraform_remote_state.network.outputs.vpc_id
    cidr     = data.terraform_remote_state.network.outputs.cidr
    replicas = var.replicas
  }
}

output "service_id" {
  value = terraform_data.service.id
}
