"""The HTTP side of the controller: REST API, webhooks, health, metrics and logging.

``app.create_app(controller, config)`` builds the FastAPI app that ``truenorth serve``
runs with ``serving.run``. The server knows the controller only through the
``ports.ControllerPort`` protocol (read-only views, plus the four actions) and never
imports the store (an import-linter contract). Webhook checks (``signatures``, ``pushes``) and body
limits (``limits``) are pure and tested without a server; everything else is thin glue.
"""

from truenorth.server.app import API_PREFIX, create_app

__all__ = ["API_PREFIX", "create_app"]
