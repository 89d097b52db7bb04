"""Git sources: which are allowed, how they are written, and when two are the same.

A source is what an operator writes for a repository: a URL (https, http, ssh, git,
file), an scp-like ``git@host:org/repo.git``, or a local directory. :func:`to_url`
checks it and turns it into something safe to hand to git; it refuses git's other
transports (``ext::`` runs a command, ``fd::`` reads a descriptor) and anything that
git could read as an option. :func:`normalize` gives the key under which a repository
is cached and matched against webhooks: every spelling of one repository (scheme,
user, default port, ``.git`` suffix, letter case of the host) maps to the same key. The
path keeps its letter case: ``/Org/Infra`` and ``/org/infra`` are two repositories to
git (and to many forges), so they are two repositories to truenorth.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from truenorth.git import errors
from truenorth.git.credentials import redact

__all__ = ["ALLOWED_SCHEMES", "branch_of", "normalize", "redact", "repository_key", "split_key", "to_url"]

#: URL schemes a source may use (scp-like ``host:path`` is ssh and also allowed).
ALLOWED_SCHEMES = frozenset({"https", "http", "ssh", "git", "file"})
_DEFAULT_PORTS = {"https": 443, "http": 80, "ssh": 22, "git": 9418}

_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
# git's "<transport>::<address>" form (ext::, fd::, or any remote helper).
_TRANSPORT = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class _ScpLike:
    host: str
    path: str


def to_url(source: str) -> str:
    """Return ``source`` as a URL git may fetch from, or raise :class:`GitError`.

    A local directory becomes a ``file://`` URL of its resolved path; URLs with an
    allowed scheme and scp-like addresses are returned unchanged.
    """
    _check_text(source)
    match = _SCHEME.match(source)
    if match is not None:
        scheme = match.group("scheme").lower()
        _check_scheme(scheme, source)
        if scheme != "file":
            _check_authority(source)
        return source
    if _scp_like(source) is not None:
        return source
    path = Path(source)
    if path.is_dir():
        return path.resolve().as_uri()
    raise errors.GitError(
        f"source {source!r} is neither an existing directory nor an allowed URL "
        f"({', '.join(sorted(ALLOWED_SCHEMES))} or user@host:path)"
    )


def normalize(url: str) -> str:
    """The canonical key of a repository, equal for every spelling of it.

    Remote sources become ``host[:port]/path`` with the host in lower case and the path
    as written (its case kept), without scheme, user-info, default port, trailing
    ``.git``, ``/`` or repeated slashes. Local paths and ``file://`` URLs become the
    resolved absolute path (case kept: file systems care).
    """
    _check_text(url)
    match = _SCHEME.match(url)
    if match is not None:
        scheme = match.group("scheme").lower()
        _check_scheme(scheme, url)
        parts = urlsplit(url)
        if scheme == "file":
            return str(Path(unquote(parts.path) or "/").resolve())
        host = _check_authority(url)
        try:
            port = parts.port
        except ValueError as exc:
            raise errors.GitError(f"source {url!r} has an invalid port") from exc
        if ":" in host:
            host = f"[{host}]"
        if port is not None and port != _DEFAULT_PORTS[scheme]:
            host = f"{host}:{port}"
        return _key(host, unquote(parts.path))
    scp = _scp_like(url)
    if scp is not None:
        return _key(scp.host.lower(), scp.path)
    return str(Path(url).resolve())


def _check_text(source: str) -> None:
    if not source or source != source.strip():
        raise errors.GitError(f"source {source!r} is empty or has surrounding spaces")
    if source.startswith("-"):
        raise errors.GitError(f"source {source!r} starts with '-' (git would read it as an option)")
    if _CONTROL.search(source):
        raise errors.GitError(f"source {source!r} contains control characters")
    if _TRANSPORT.match(source):
        raise errors.GitError(f"source {source!r} uses a git transport ('<name>::'), which is not allowed")


def _check_scheme(scheme: str, source: str) -> None:
    if scheme not in ALLOWED_SCHEMES:
        raise errors.GitError(
            f"source {source!r} uses scheme {scheme!r}; allowed: {', '.join(sorted(ALLOWED_SCHEMES))}"
        )


def _check_authority(url: str) -> str:
    """The lower-cased host of a non-file URL; refuses a missing or option-like host."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if not host:
        raise errors.GitError(f"source {url!r} has no host")
    if host.startswith("-") or (parts.username or "").startswith("-"):
        raise errors.GitError(f"source {url!r} has a host or user starting with '-'")
    return host


def _scp_like(source: str) -> _ScpLike | None:
    """``[user@]host:path`` as git reads it: a colon before any slash."""
    colon = source.find(":")
    slash = source.find("/")
    if colon <= 0 or (slash != -1 and slash < colon):
        return None
    _, _, host = source[:colon].rpartition("@")
    path = source[colon + 1 :]
    if not host or not path or host.startswith("-") or any(c in host for c in "[] "):
        raise errors.GitError(f"source {source!r} is not a valid user@host:path address")
    return _ScpLike(host=host, path=path)


def _key(host: str, path: str) -> str:
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[: -len(".git")].rstrip("/")
    path = re.sub(r"/{2,}", "/", path)
    return f"{host}/{path}" if path else host


def repository_key(url: str, branch: str) -> str:
    """The key a tracked repository's records live under: ``<normalized URL>#<branch>``.

    ``https://GitHub.com/Org/Infra.git`` on ``main`` -> ``github.com/Org/Infra#main``;
    a local path or ``file://`` URL -> ``/srv/git/infra#main``. The URL part is
    :func:`normalize` (host lower-cased, path as written, no credentials) with
    ``%`` and ``#`` escaped, so the first ``#`` always ends it and no two (URL, branch)
    pairs share a key. Raises :class:`GitError` for a source git would refuse.
    """
    location = normalize(url).replace("%", "%25").replace("#", "%23")
    return f"{location}#{branch}"


def branch_of(key: str) -> str:
    """The branch part of a :func:`repository_key` (empty for a key without one)."""
    return key.partition("#")[2]


def split_key(key: str) -> tuple[str, str]:
    """A :func:`repository_key` as (normalized URL, branch), for showing."""
    location, _, branch = key.partition("#")
    return location.replace("%23", "#").replace("%25", "%"), branch
