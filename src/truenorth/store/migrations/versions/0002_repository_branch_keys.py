"""A tracked repository is its URL and its branch: repository keys name the branch.

Revision ID: 0002
Revises: 0001

Before, runs and stacks were kept under the repository's credential-free URL as it was
written (``https://***@Git.example.com/Org/Infra.git``), so two branches of one URL
shared them, and two spellings of one URL did not. Now the key is
``<normalized URL>#<branch>`` (``git.example.com/Org/Infra#main``): the host in lower
case, the path as written, no scheme, user, default port, ``.git`` or trailing ``/``;
``%`` and ``#`` in it escaped as ``%25`` and ``%23``.

Which branch an old record was written for is not in the database (the controller's
configuration and the CLI's ``--ref`` never were), so every old record goes to the
documented default branch, ``main``. Old keys that are no URL (none were written by a
released version) keep their text, escaped, with ``#main`` added. Two old spellings of
one repository merge: their runs join, and of two stack states for one stack the newer
one is kept.

The normalization is copied here, frozen: the store may not import the git adapter, and
a migration must keep meaning what it meant when it was written. Downgrading is refused:
the old keys cannot be rebuilt from the new ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import sqlalchemy as sa
from alembic import op
from alembic.util import CommandError

__all__ = [
    "branch_labels",
    "convert",
    "depends_on",
    "down_revision",
    "downgrade",
    "new_key",
    "revision",
    "upgrade",
]

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

#: The branch every record written before this revision is given.
MIGRATED_BRANCH = "main"
_KEY_LENGTH = 1024
_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")

_runs = sa.table("runs", sa.column("repository", sa.String))
_stacks = sa.table(
    "stacks",
    sa.column("repository", sa.String),
    sa.column("name", sa.String),
    sa.column("updated_at", sa.DateTime),
)


def new_key(old: str) -> str:
    """The 0002 key of a record kept under ``old`` (a credential-free URL)."""
    return f"{_escape(_normalized(old))}#{MIGRATED_BRANCH}"


def _normalized(old: str) -> str:
    match = _SCHEME.match(old)
    if match is not None:
        scheme = match.group("scheme").lower()
        try:
            parts = urlsplit(old)
            port = parts.port
        except ValueError:
            return old
        if scheme == "file":
            return unquote(parts.path) or "/"
        host = parts.hostname or ""
        if scheme not in _DEFAULT_PORTS or not host:
            return old
        if ":" in host:
            host = f"[{host}]"
        if port is not None and port != _DEFAULT_PORTS[scheme]:
            host = f"{host}:{port}"
        return _joined(host, unquote(parts.path))
    colon, slash = old.find(":"), old.find("/")
    if colon > 0 and (slash == -1 or colon < slash):
        host = old[:colon].rpartition("@")[2]
        if host and old[colon + 1 :]:
            return _joined(host.lower(), old[colon + 1 :])
    return old


def _joined(host: str, path: str) -> str:
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")].rstrip("/")
    path = re.sub(r"/{2,}", "/", path)
    return f"{host}/{path}" if path else host


def _escape(location: str) -> str:
    return location.replace("%", "%25").replace("#", "%23")


def upgrade() -> None:
    convert(op.get_bind(), new_key)


def convert(connection: sa.Connection, rekey: Callable[[str], str]) -> None:
    """Rewrite every repository key of ``runs`` and ``stacks`` with ``rekey``, merging collisions.

    A new key longer than the column (1,024 characters) leaves the old one as it was.
    """

    def key(old: str) -> str:
        new = rekey(old)
        return new if len(new) <= _KEY_LENGTH else old

    old_keys = set(connection.execute(sa.select(_runs.c.repository).distinct()).scalars())
    stacks = connection.execute(sa.select(_stacks.c.repository, _stacks.c.name, _stacks.c.updated_at)).all()
    old_keys |= {row.repository for row in stacks}
    # Of several old rows that become one stack, the newest stays (ties: the last key in order).
    keep: dict[tuple[str, str], tuple[object, str]] = {}
    for row in sorted(stacks, key=lambda r: (r.updated_at, r.repository)):
        keep[(key(row.repository), row.name)] = (row.updated_at, row.repository)
    for row in stacks:
        if keep[(key(row.repository), row.name)][1] != row.repository:
            connection.execute(
                sa.delete(_stacks).where(_stacks.c.repository == row.repository, _stacks.c.name == row.name)
            )
    for old in sorted(old_keys):
        new = key(old)
        if new == old:
            continue
        connection.execute(sa.update(_runs).where(_runs.c.repository == old).values(repository=new))
        connection.execute(sa.update(_stacks).where(_stacks.c.repository == old).values(repository=new))


def downgrade() -> None:
    """Refused on purpose (a one-way migration), with alembic's user-facing error."""
    raise CommandError(
        "schema 0002 cannot be downgraded: the repository keys of 0001 (URLs as written) "
        "cannot be rebuilt from <normalized URL>#<branch>"
    )
