"""Terraform state in PostgreSQL for stacks that declare no backend (several replicas).

With one controller, a stack without a backend keeps its state in a local file in the
data dir (:mod:`.configs`, ``backend_file``). Replicas each have their own data dir, so
that state must live where every replica can reach it: Terraform's built-in ``pg``
backend, in the same PostgreSQL database as truenorth's store, one schema per stack.
This module is the pure part: the schema's name and the backend file and environment a
Terraform command needs. Nothing here runs a program or opens a connection.

The schema name is derived from the repository key and the stack name, never chosen by
the repository: ``tn_<readable part>_<hash>``, lower-case letters, digits and ``_``, at
most 63 characters (PostgreSQL's identifier limit), the hash (SHA-256, 64 bits) making
two stacks' schemas differ even where the readable part is cut or equal. It is stable
across versions: changing the rule would orphan every stack's state.

Pitfalls this design avoids (checked by the tests with a real ``terraform init/apply``):

- The connection string is a secret. It is given as ``PG_CONN_STR`` in the command's
  environment, never written in the backend file nor passed as ``-backend-config``,
  which Terraform copies into ``.terraform/terraform.tfstate`` in the working copy.
- The schema goes in the backend file (not secret), so ``terraform init`` notices when
  it changes and a plan saved for one schema is never applied to another.
- The ``pg`` backend locks the state with a PostgreSQL advisory lock of its own, so two
  replicas can never write one stack's state at once even outside truenorth's locks.

The wiring (:mod:`.sharing`, :mod:`.preparing`) lets the sandbox reach the database
(:func:`reach`: the network, or the socket folder of a Unix-socket URL) and masks the
URL and its password (:func:`secrets_of`). The credentials reach every schema the role
may reach, so a stack whose Terraform runs hostile code could read other stacks' state:
give the controller a dedicated database (or a role limited to the state schemas)
through ``terraform_state_url`` rather than the store's own URL when repositories are
not equally trusted.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from urllib.parse import parse_qsl, quote, unquote

__all__ = [
    "ENV_CONN_STR",
    "MAX_SCHEMA_LENGTH",
    "PgBackend",
    "Reach",
    "backend_for",
    "libpq_url",
    "reach",
    "schema_name",
    "secrets_of",
]

#: The environment variable the ``pg`` backend reads its connection string from.
ENV_CONN_STR = "PG_CONN_STR"
#: PostgreSQL's identifier limit (bytes; the name is ASCII).
MAX_SCHEMA_LENGTH = 63
_PREFIX = "tn_"
_HASH_CHARS = 16
_NOT_WORD = re.compile(r"[^a-z0-9]+")


def schema_name(repository: str, stack: str) -> str:
    """The schema holding ``stack``'s state, for the tracked repository key ``repository``.

    ``repository`` is ``<normalized URL>#<branch>``; the readable part is the URL's last
    path segment, the branch and the stack, squeezed to ``[a-z0-9_]``.
    """
    if not isinstance(repository, str) or not repository:
        raise ValueError("a repository key is needed for a state schema")
    if not isinstance(stack, str) or not stack:
        raise ValueError("a stack name is needed for a state schema")
    digest = hashlib.sha256(
        repository.encode("utf-8", "surrogatepass") + b"\x00" + stack.encode("utf-8", "surrogatepass")
    ).hexdigest()[:_HASH_CHARS]
    url, _, branch = repository.rpartition("#") if "#" in repository else (repository, "", "")
    name = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    readable = "_".join(part for part in (_word(name), _word(branch), _word(stack)) if part)
    room = MAX_SCHEMA_LENGTH - len(_PREFIX) - 1 - _HASH_CHARS
    readable = readable[:room].strip("_")
    return f"{_PREFIX}{readable}_{digest}" if readable else f"{_PREFIX}{digest}"


@dataclass(frozen=True)
class PgBackend:
    """What a Terraform command of one stack needs to keep its state in PostgreSQL.

    ``file_text`` replaces the local backend file in the working copy; ``env`` goes into
    the command's environment (it holds the connection string: never log it).
    """

    schema: str
    file_text: str
    env: Mapping[str, str] = field(repr=False)


def backend_for(repository: str, stack: str, *, conn_str: str) -> PgBackend:
    """The ``pg`` backend of ``stack``: its schema, backend file and environment.

    ``conn_str`` is a libpq URL (``postgres://USER@HOST/DB?sslmode=...``), as the ``pg``
    backend takes it; the store's ``postgresql+psycopg://`` spelling is turned into it.
    """
    if not isinstance(conn_str, str) or not conn_str.strip():
        raise ValueError("the pg backend needs a connection string")
    if "\x00" in conn_str or "\n" in conn_str:
        raise ValueError("the pg backend's connection string holds a control character")
    schema = schema_name(repository, stack)
    document = {"terraform": {"backend": {"pg": {"schema_name": schema}}}}
    return PgBackend(
        schema=schema,
        file_text=json.dumps(document, indent=2) + "\n",
        env={ENV_CONN_STR: libpq_url(conn_str)},
    )


def libpq_url(url: str) -> str:
    """``url`` as Terraform's ``pg`` backend (Go's ``lib/pq``) reads it.

    A SQLAlchemy driver suffix (``postgresql+psycopg://``) is dropped, and a Unix-socket
    folder given as a percent-encoded host (``postgresql://u@%2Fvar%2Frun%2Fpostgresql/db``,
    which libpq and psycopg take but Go's URL parser refuses) moves into the query as
    ``host=`` (and its port as ``port=``), which both read alike.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    if scheme.startswith("postgresql+"):
        scheme = "postgresql"
    authority, tail = _split_authority(rest)
    userinfo, at, hostport = authority.rpartition("@")
    if not hostport.lower().startswith("%2f"):
        return f"{scheme}://{rest}"
    host, _, port = hostport.partition(":")
    path, _, query = tail.partition("?")
    moved = [f"host={quote(unquote(host), safe='')}"] + ([f"port={quote(port, safe='')}"] if port else [])
    query = "&".join(part for part in (query, *moved) if part)
    return f"{scheme}://{userinfo}{at}{path or '/'}?{query}"


@dataclass(frozen=True)
class Reach:
    """What a confined Terraform needs to reach the database of a connection string.

    ``network``: a host name or address (TCP; also no host at all, which ``lib/pq``
    takes as ``localhost``). ``sockets``: the folders of Unix sockets (a host starting
    with ``/``), bound into the sandbox. ``files``: the certificate and key files the
    URL names (``sslrootcert``, ``sslcert``, ``sslkey``, ``sslcrl``), bound read-only.
    """

    network: bool
    sockets: tuple[PurePosixPath, ...] = ()
    files: tuple[PurePosixPath, ...] = ()


def reach(conn_str: str) -> Reach:
    """What reaching the database of the libpq URL ``conn_str`` takes (see :class:`Reach`)."""
    _, _, rest = conn_str.partition("://")
    authority, tail = _split_authority(rest)
    params = _query(tail)
    given = [value for key, value in params if key == "host"]
    hosts = [item for value in given for item in value.split(",")] if given else None
    if hosts is None:
        hostports = authority.rpartition("@")[2]
        hosts = [unquote(_without_port(item)) for item in hostports.split(",")]
    sockets = tuple(dict.fromkeys(PurePosixPath(item) for item in hosts if item.startswith("/")))
    network = any(not item.startswith("/") for item in hosts) or any(key == "hostaddr" for key, _ in params)
    files = tuple(
        dict.fromkeys(
            PurePosixPath(value)
            for key, value in params
            if key in ("sslrootcert", "sslcert", "sslkey", "sslcrl") and value.startswith("/")
        )
    )
    return Reach(network=network, sockets=sockets, files=files)


def secrets_of(conn_str: str) -> tuple[str, ...]:
    """The texts of ``conn_str`` to mask wherever they appear: the URL and its password."""
    found = [conn_str]
    _, _, rest = conn_str.partition("://")
    authority, tail = _split_authority(rest)
    userinfo, at, _ = authority.rpartition("@")
    if at and ":" in userinfo:
        password = userinfo.partition(":")[2]
        found += [password, unquote(password)]
    for key, value in _query(tail):
        if key == "password":
            found.append(value)
    raw = tail.partition("?")[2]
    found += [part.partition("=")[2] for part in raw.split("&") if part.startswith("password=")]
    return tuple(dict.fromkeys(item for item in found if item))


def _split_authority(rest: str) -> tuple[str, str]:
    """``user@host:port`` and what follows it (``/db?query``) of a URL without its scheme."""
    for index, char in enumerate(rest):
        if char in "/?#":
            return rest[:index], rest[index:]
    return rest, ""


def _query(tail: str) -> list[tuple[str, str]]:
    query = tail.partition("?")[2].partition("#")[0]
    return parse_qsl(query, keep_blank_values=True)


def _without_port(hostport: str) -> str:
    if hostport.startswith("["):  # [::1]:5432
        return hostport[1:].partition("]")[0]
    return hostport.partition(":")[0]


def _word(text: str) -> str:
    return _NOT_WORD.sub("_", text.lower()).strip("_")
