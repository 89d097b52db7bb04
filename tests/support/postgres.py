"""A throwaway PostgreSQL server for tests, started from the installed binaries.

One server per test session (so one per xdist worker), in its own temporary directory,
listening on a unix socket only (no TCP port to collide on), with a fresh database per
test from :func:`postgres_url`. PostgreSQL refuses to run as root, and tests run as root
on CI: the server then runs as the unprivileged system user ``truenorth-pg`` (created on
first use) and owns its directory. Missing binaries fail the test with a clear message;
they are never a silent skip.

Use from any test folder by importing the fixtures into that folder's ``conftest.py``::

    from tests.support.postgres import postgres_server, postgres_url  # noqa: F401

and mark the tests ``@pytest.mark.postgres``.
"""

from __future__ import annotations

import fcntl
import glob
import os
import pwd
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from psycopg import sql

__all__ = [
    "PG_USER",
    "Account",
    "PostgresServer",
    "find_binaries",
    "postgres_server",
    "postgres_url",
    "unprivileged_account",
]

#: The system user the server runs as when the tests run as root.
PG_USER = "truenorth-pg"
# Newest installed major version first (numeric order: 15 before 9.6).
_VERSIONED = sorted(
    glob.glob("/usr/lib/postgresql/*/bin"),
    key=lambda p: tuple(int(n) for n in re.findall(r"\d+", Path(p).parent.name)),
    reverse=True,
)
_SEARCH = ("/usr/local/bin", *_VERSIONED)
_NEEDED = ("initdb", "pg_ctl", "postgres")
_USERADD_LOCK = Path(tempfile.gettempdir()) / "truenorth-pg-useradd.lock"
_START_TIMEOUT = 60


@dataclass(frozen=True)
class Account:
    """A user to run programs as (uid, gid) when the tests run as root."""

    name: str
    uid: int
    gid: int


def find_binaries() -> Path:
    """The folder holding initdb, pg_ctl and postgres; fails the test if there is none."""
    candidates = [Path(p) for p in _SEARCH]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.insert(1, Path(on_path).parent)
    for folder in candidates:
        if all(os.access(folder / name, os.X_OK) for name in _NEEDED):
            return folder
    pytest.fail(
        "PostgreSQL binaries (initdb, pg_ctl, postgres) not found in /usr/local/bin, PATH or "
        "/usr/lib/postgresql/*/bin: install them (Debian: apt-get install postgresql) before running "
        "the tests marked 'postgres'",
        pytrace=False,
    )


def unprivileged_account() -> Account | None:
    """The account to run PostgreSQL (and other root-refusing programs) as, or None.

    None when the tests do not run as root: the current user is fine then. As root, the
    system user ``truenorth-pg`` is created if missing (under a file lock, since xdist
    workers start at the same time).
    """
    if os.geteuid() != 0:
        return None
    with _USERADD_LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            entry = pwd.getpwnam(PG_USER)
        except KeyError:
            subprocess.run(
                ["useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
                 "--shell", "/usr/sbin/nologin", "--user-group", PG_USER],
                check=True,
                capture_output=True,
            )  # fmt: skip
            entry = pwd.getpwnam(PG_USER)
    return Account(name=PG_USER, uid=entry.pw_uid, gid=entry.pw_gid)


class PostgresServer:
    """One running throwaway cluster; superuser ``postgres`` with trust authentication."""

    def __init__(self, *, bin_dir: Path, base_dir: Path, account: Account | None) -> None:
        self.bin_dir = bin_dir
        self.base_dir = base_dir
        self.account = account
        self.data_dir = base_dir / "data"
        self.socket_dir = base_dir / "socket"
        self.log_file = base_dir / "server.log"
        self._running = False

    @classmethod
    def start(cls, *, bin_dir: Path | None = None) -> PostgresServer:
        """initdb and start a new cluster in a fresh directory; wait until it accepts connections."""
        account = unprivileged_account()
        # Not under pytest's basetemp: that is private to root, and socket paths must be short.
        base_dir = Path(tempfile.mkdtemp(prefix="tn-pg-", dir="/tmp" if Path("/tmp").is_dir() else None))
        server = cls(bin_dir=bin_dir or find_binaries(), base_dir=base_dir, account=account)
        try:
            server._init_and_start()
        except BaseException:
            server.stop()
            raise
        return server

    def _init_and_start(self) -> None:
        self.socket_dir.mkdir()
        if self.account is not None:
            for path in (self.base_dir, self.socket_dir):
                os.chown(path, self.account.uid, self.account.gid)
        # Reachable by a client without CAP_DAC_OVERRIDE (root inside the engine sandbox
        # drops it), whatever umask the test process has: mkdtemp makes 0700, and a test
        # that ran truenorth's CLI in-process leaves umask 077. The data folder inside
        # stays 0700 (initdb insists).
        os.chmod(self.base_dir, 0o711)
        os.chmod(self.socket_dir, 0o755)
        self._run(
            "initdb", "--pgdata", str(self.data_dir), "--username", "postgres", "--auth", "trust",
            "--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions",
        )  # fmt: skip
        settings = {
            "listen_addresses": "''",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "50",
            "timezone": "'UTC'",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        self._run(
            "pg_ctl", "--pgdata", str(self.data_dir), "--log", str(self.log_file),
            "--wait", "--timeout", str(_START_TIMEOUT), "--silent", "start",
        )  # fmt: skip
        self._running = True

    def _run(self, program: str, *args: str) -> None:
        as_user = {}
        if self.account is not None:
            as_user = {"user": self.account.uid, "group": self.account.gid, "extra_groups": []}
        env = {"PATH": f"{self.bin_dir}:/usr/bin:/bin", "LC_ALL": "C", "LANG": "C", "TZ": "UTC"}
        done = subprocess.run(
            [str(self.bin_dir / program), *args],
            cwd=self.base_dir,
            env=env,
            capture_output=True,
            text=True,
            timeout=_START_TIMEOUT + 30,
            check=False,
            **as_user,  # type: ignore[arg-type]
        )
        if done.returncode != 0:
            log = self.log_file.read_text(errors="replace")[-4000:] if self.log_file.exists() else ""
            raise RuntimeError(
                f"{program} failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}\nserver log:\n{log}"
            )

    def url(self, database: str = "postgres") -> str:
        """A ``postgresql://`` URL for ``database`` over the server's unix socket."""
        return f"postgresql://postgres@/{database}?host={quote(str(self.socket_dir), safe='')}"

    def admin(self) -> psycopg.Connection[tuple[object, ...]]:
        """An autocommit connection to the ``postgres`` database as the superuser."""
        return psycopg.connect(host=str(self.socket_dir), dbname="postgres", user="postgres", autocommit=True)

    def create_database(self) -> str:
        """Create a fresh, empty database; return its name."""
        name = f"test_{uuid.uuid4().hex[:16]}"
        with self.admin() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} STRATEGY = FILE_COPY").format(sql.Identifier(name)))
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, closing whatever connections a test left open."""
        with self.admin() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def pause(self) -> None:
        """Stop the server (every session is cut off), keeping its data: :meth:`resume` it.

        A fast shutdown, not an immediate one: the test cluster commits asynchronously
        (``synchronous_commit = off``), so a crash would lose the last transactions.
        """
        self._run("pg_ctl", "--pgdata", str(self.data_dir), "--mode", "fast", "--wait", "--silent", "stop")

    def resume(self) -> None:
        """Start a paused server again on the same socket and data."""
        self._run(
            "pg_ctl", "--pgdata", str(self.data_dir), "--log", str(self.log_file),
            "--wait", "--timeout", str(_START_TIMEOUT), "--silent", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server at once and delete its directory (idempotent)."""
        if self._running:
            self._running = False
            self._run(
                "pg_ctl", "--pgdata", str(self.data_dir), "--mode", "immediate", "--wait", "--silent", "stop"
            )
        shutil.rmtree(self.base_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for this test session (this xdist worker)."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The ``postgresql://`` URL of a fresh database, dropped after the test."""
    name = postgres_server.create_database()
    try:
        yield postgres_server.url(name)
    finally:
        postgres_server.drop_database(name)
