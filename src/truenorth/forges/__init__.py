"""Merge requests on forges: the plan comment, the commit statuses, and the forges' webhooks.

An adapter beside the engines and :mod:`truenorth.notify`: it renders core data (plans)
and talks to GitHub, GitLab and Gitea/Forgejo over their documented REST APIs; the
controller and the CLI drive it. It never imports the controller, the server or the CLI.
"""

from __future__ import annotations

__all__: list[str] = []
