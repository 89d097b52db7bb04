"""The ids that cross layers, as distinct types: a tracked repository's key and a run's id.

Both are plain values underneath (a string, an integer), and both are easy to confuse
with their neighbours: a repository *key* (``<normalized URL>#<branch>``, what runs and
stack states are stored under) with a repository *name* (what the configuration and
the API say), a run id with a log line number or a count. Typed with ``NewType``, mypy
tells them apart in the views and ports that hand them from the controller to the
server, at no cost at run time. The store below keeps plain ``str`` and ``int``.
"""

from __future__ import annotations

from typing import NewType

__all__ = ["RepositoryKey", "RunId"]

#: Where a tracked repository's runs, stack states and engine state are kept:
#: ``<normalized URL>#<branch>``. Never shown as a repository's name.
RepositoryKey = NewType("RepositoryKey", str)

#: A recorded run (plan, apply, drift check): positive, never reused.
RunId = NewType("RunId", int)
