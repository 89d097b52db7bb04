"""A Kubernetes API test server speaking the real wire format (see :mod:`.server`).

kmock 0.8 was the starting point, but bending it to server-side apply semantics,
dry-run, selectors and managed fields meant replacing its whole object model, so this
is a small server of its own on the standard library's ``ThreadingHTTPServer``:
:mod:`.resources` (kinds and discovery), :mod:`.store` (state and verbs),
:mod:`.managed` (field ownership), :mod:`.behaviours` (validation, defaults,
simulated controllers), :mod:`.selectors` (label and field selectors).
"""

from tests.support.kubeapi.server import KubeAPIServer, Recorded

__all__ = ["KubeAPIServer", "Recorded"]
