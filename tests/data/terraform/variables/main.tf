variable "token" {
  type      = string
  sensitive = true
  default   = "default-secret-1"
  validation {
    condition     = length(var.token) > 40
    error_message = "the token ${var.token} is too short"
  }
}

variable "nested" {
  sensitive = true
  default   = { user = "admin-secret-2", ports = [8443, "p-secret-3"] }
}

variable "from_files" {
  type      = string
  sensitive = true
}

variable "plain" {
  default = "not-a-secret"
}
