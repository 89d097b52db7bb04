"""A Git repository served over dumb HTTP on 127.0.0.1 behind a token, for the controller.

The controller gets ``TRUENORTH_GIT_TOKEN`` and fetches ``http://127.0.0.1:PORT/team/repo.git``
with it as ``x-access-token:<token>`` Basic credentials (``RepositoryConfig.fetch_url``).
The handler is the one of the Git adapter's tests (:mod:`tests.git.test_remote`) with the
expected credentials swapped, plus a switch that makes it answer 503 so that the suite
can watch the controller report a Git failure without showing the credential.
"""

from __future__ import annotations

import base64
import functools
import http.server
import subprocess
import threading
from pathlib import Path

from tests.git.test_remote import _AuthHandler, bare_copy
from tests.security.canaries import GIT_USER
from tests.support.gitrepos import GitRepo

__all__ = ["TokenGitServer"]


class TokenGitServer:
    """Serves a bare copy of ``repo`` read-only over dumb HTTP; only ``token`` may read it."""

    def __init__(self, repo: GitRepo, root: Path, *, token: str, branch: str) -> None:
        self.repo = repo
        self.branch = branch
        self.bare = bare_copy(repo, root)
        self.failing = False
        self.requests = 0
        outer = self

        class Handler(_AuthHandler):
            expected = "Basic " + base64.b64encode(f"{GIT_USER}:{token}".encode()).decode()

            def do_GET(self) -> None:
                outer.requests += 1
                if outer.failing:
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                super().do_GET()

        subprocess.run(["git", "update-server-info"], cwd=self.bare, check=True)
        handler = functools.partial(Handler, directory=str(root))
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The repository's URL, without credentials (what the controller is given)."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/team/repo.git"

    def publish(self) -> str:
        """Push the working repository's branch to the served copy; return its head."""
        self.repo.git("push", "-q", "--force", str(self.bare), f"{self.branch}:{self.branch}")
        subprocess.run(["git", "update-server-info"], cwd=self.bare, check=True)
        return self.repo.head()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
