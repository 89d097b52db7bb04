"""The HTTP side of the controller: REST API, webhooks, metrics and the web UI."""
