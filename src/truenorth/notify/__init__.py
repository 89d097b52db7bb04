"""Telling people when things change: notices, subscriptions, Apprise and a signed JSON webhook.

An adapter beside the engines: it reads core data (through :mod:`truenorth.core`, the
redactor) and talks to the network (Apprise's services, webhooks); the controller drives
it, and the configuration (:mod:`truenorth.config.notifications`) builds its settings. It
never imports the controller, the server or the CLI.

- :mod:`~truenorth.notify.events`: the eight events and a :class:`Notice` (pure);
- :mod:`~truenorth.notify.drifts`: drift announced once until resolved (pure);
- :mod:`~truenorth.notify.subscriptions`: who hears of what (pure);
- :mod:`~truenorth.notify.signatures`: the webhook's HMAC-SHA256 signature, and its check (pure);
- :mod:`~truenorth.notify.sending`: one notice to one target (Apprise, the webhook);
- :mod:`~truenorth.notify.delivering`: the :class:`Notifier` (background, retries, records).
"""

from __future__ import annotations

__all__: list[str] = []
