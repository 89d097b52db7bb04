"""Fetching over the network: git daemon, HTTP with credentials, and unreachable hosts."""

from __future__ import annotations

import base64
import functools
import http.server
import socket
import subprocess
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.gitrepos import GitRepo
from truenorth.git.errors import GitError
from truenorth.git.mirrors import MirrorCache

TOKEN = "tn-canary-T0KEN-5ecret"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until_listening(port: int, proc: subprocess.Popen[bytes], *, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert proc.poll() is None, "git daemon exited early"
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise AssertionError(f"nothing listening on port {port}")


def bare_copy(repo: GitRepo, serve_root: Path) -> Path:
    bare = serve_root / "team" / "repo.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo.path), str(bare)], check=True)
    return bare


def push(repo: GitRepo, bare: Path) -> None:
    repo.git("push", "-q", "--force", str(bare), "main")


@pytest.fixture
def daemon_url(repo: GitRepo, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    serve_root = tmp_path / "served"
    bare = bare_copy(repo, serve_root)
    port = free_port()
    options = [
        "--export-all",
        "--reuseaddr",
        "--listen=127.0.0.1",
        f"--port={port}",
        f"--base-path={serve_root}",
    ]
    proc = subprocess.Popen(
        ["git", "daemon", *options, str(serve_root)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until_listening(port, proc)
        yield f"git://127.0.0.1:{port}/team/repo.git", bare
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.slow
def test_fetch_over_git_daemon(repo: GitRepo, cache: MirrorCache, daemon_url: tuple[str, Path]) -> None:
    url, bare = daemon_url
    first = repo.head()
    assert cache.ls_remote(url, "main") == first
    cache.fetch(url)
    assert cache.resolve(url, "main") == first
    assert cache.default_branch(url) == "main"

    second = repo.commit("second", {"stacks/app/extra.tf": "# extra\n"})
    push(repo, bare)
    assert cache.ls_remote(url, "main") == second
    cache.fetch(url)
    assert cache.changed_paths(url, first, "main") == ("stacks/app/extra.tf",)
    snapshot = cache.snapshot(url, "main")
    assert (snapshot / "stacks/app/extra.tf").read_text() == "# extra\n"


class _AuthHandler(http.server.SimpleHTTPRequestHandler):
    """Serves a bare repository over git's dumb HTTP protocol, behind basic auth."""

    expected = "Basic " + base64.b64encode(f"deploy:{TOKEN}".encode()).decode()

    def do_GET(self) -> None:
        if self.headers.get("Authorization") != self.expected:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_root(repo: GitRepo, tmp_path: Path) -> Iterator[str]:
    serve_root = tmp_path / "http"
    bare = bare_copy(repo, serve_root)
    subprocess.run(["git", "update-server-info"], cwd=bare, check=True)
    handler = functools.partial(_AuthHandler, directory=str(serve_root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}/team/repo.git"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def all_bytes_under(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.mark.slow
def test_credentials_work_but_are_never_stored(repo: GitRepo, cache: MirrorCache, http_root: str) -> None:
    url = f"http://deploy:{TOKEN}@{http_root}"
    mirror = cache.fetch(url)
    assert cache.resolve(url, "main") == repo.head()
    cache.fetch(url)
    assert TOKEN.encode() not in all_bytes_under(cache.root)
    assert "url = http://***@" in (mirror / "config").read_text()
    # The same repository without credentials maps to the same mirror.
    assert cache.mirror_path(f"http://{http_root}") == mirror


def assert_no_token(error: GitError) -> None:
    shown = "".join(traceback.format_exception(error))
    assert TOKEN not in shown
    assert TOKEN not in repr(error.args)


@pytest.mark.slow
def test_wrong_credentials_fail_without_showing_them(cache: MirrorCache, http_root: str) -> None:
    url = f"http://deploy:{TOKEN}-wrong@{http_root}"
    with pytest.raises(GitError, match="git clone failed") as caught:
        cache.fetch(url)
    assert_no_token(caught.value)
    with pytest.raises(GitError) as caught:
        cache.ls_remote(url, "main")
    assert_no_token(caught.value)


def test_unreachable_host_error_hides_the_token(cache: MirrorCache) -> None:
    url = f"http://deploy:{TOKEN}@127.0.0.1:{free_port()}/team/repo.git"
    with pytest.raises(GitError, match="git clone failed") as caught:
        cache.fetch(url)
    assert "127.0.0.1" in str(caught.value)
    assert_no_token(caught.value)
    with pytest.raises(GitError, match="ls-remote failed") as caught:
        cache.ls_remote(url, "main")
    assert_no_token(caught.value)
    with pytest.raises(GitError) as caught:
        cache.resolve(url, "main")
    assert_no_token(caught.value)


def test_credentials_git_prints_outside_a_url_are_masked(cache: MirrorCache) -> None:
    # git:// has no user-info, so git prints "unable to look up deploy:<token>@host":
    # the URL redaction cannot see it, the per-source masking of user and password must.
    url = f"git://deploy:{TOKEN}@127.0.0.1:{free_port()}/team/repo.git"
    with pytest.raises(GitError, match="unable to look up") as caught:
        cache.fetch(url)
    assert_no_token(caught.value)
    assert "***:***@127.0.0.1" in str(caught.value)
