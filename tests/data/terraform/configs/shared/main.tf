# A tiny stack whose state the network stack reads with terraform_remote_state.
resource "terraform_data" "zone" {
  input = "example.test"
}

output "zone" {
  value = terraform_data.zone.output
}

output "api_key" {
  value     = "CANARY-shared-api-key"
  sensitive = true
}
