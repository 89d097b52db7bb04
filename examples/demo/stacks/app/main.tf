# The app reads the network stack's outputs from its local state, which truenorth keeps
# under <data-dir>/state/<stack>/ and passes in as var.truenorth_state_dir.
variable "truenorth_state_dir" {
  type = string
}

variable "replicas" {
  type    = number
  default = 2
}

data "terraform_remote_state" "network" {
  backend = "local"
  config = {
    path = "${var.truenorth_state_dir}/network/terraform.tfstate"
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
