"""Checking a Kustomize tree before ``kubectl kustomize`` ever reads it.

Kustomize follows whatever a ``kustomization.yaml`` lists: remote bases fetched with
git over the network, and local bases anywhere on disk. Its default load restrictor
keeps *files* inside each kustomization's folder but lets *folders* (bases) be
anywhere, ``../../../../etc`` included (checked with kubectl 1.32). So before
rendering, truenorth walks the tree itself: every local reference must resolve inside
the checkout, every remote one (``https://``, ``git::``, ``git@host:``, ``ssh://``,
``github.com/owner/repo``) is refused unless its host is allowed (security cases 2 and
7), a kustomization that includes itself is reported as a cycle (case 4), a Helm chart
(``helmCharts``) is refused by name, and the folders found are returned so that their symlinks can be checked (case 1).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from truenorth import texts
from truenorth.core import specs

__all__ = ["KUSTOMIZATION_FILES", "SourceError", "find_kustomization", "local_roots", "remote_host"]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MAX_KUSTOMIZATIONS = 500
MAX_KUSTOMIZATION_BYTES = 1024 * 1024

# Entries that name kustomizations or files to load; generator entries are "key=path".
_LIST_FIELDS = (
    "resources",
    "bases",
    "components",
    "crds",
    "configurations",
    "generators",
    "transformers",
    "validators",
)
_PATCH_FIELDS = ("patches", "patchesStrategicMerge", "patchesJson6902", "replacements")
_GENERATORS = ("configMapGenerator", "secretGenerator")
#: Fields that make kustomize inflate a Helm chart (only with ``--enable-helm``, never passed).
_HELM_FIELDS = ("helmCharts", "helmChartInflationGenerator", "helmGlobals")
#: The longest reference read (PATH_MAX): anything longer is refused before it is parsed.
MAX_REFERENCE = 4096
_SHOWN_REFERENCE = 200
_LABEL_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-")


class SourceError(ValueError):
    """A kustomization refers to something truenorth refuses to render."""


def find_kustomization(directory: Path) -> Path | None:
    """The kustomization file in ``directory``, if it is a Kustomize root."""
    for name in KUSTOMIZATION_FILES:
        candidate = directory / name
        if candidate.is_file():
            return candidate
    return None


def remote_host(entry: str) -> str | None:
    """The host a remote reference fetches from, or None for a local path.

    Only unambiguous forms count here (a URL scheme, ``git::``, ``user@host:path``);
    ``github.com/owner/repo`` is remote only when no such local path exists, which
    :func:`local_roots` decides.
    """
    text = entry.strip()
    if text.startswith("git::"):
        text = text[len("git::") :]
    if "://" in text:
        try:
            host = urllib.parse.urlsplit(text).hostname
        except ValueError:
            host = None
        return (host or "?").lower()
    host = _scp_host(text)
    if host is not None and not text.startswith(("./", "../", "/")):
        return host.lower()
    return None


def _scp_host(text: str) -> str | None:
    """The host of ``[user@]host:path`` (git's scp-like syntax), or None.

    The host is ``localhost`` or has a dot inside it; ``host:22/x`` and ``host://x`` are
    not this form. String methods only: linear in the length of ``text``.
    """
    head, colon, rest = text.partition(":")
    if not colon:
        return None
    user, at, host = head.rpartition("@")
    if at and (not _word_like(user) or "@" in user):
        return None
    if not _word_like(host) or not (host == "localhost" or "." in host[1:-1]):
        return None
    digits = len(rest) - len(rest.lstrip("0123456789"))
    if rest.startswith("//") or (digits and rest[digits : digits + 1] == "/"):
        return None
    return host


def _word_like(text: str) -> bool:
    """Letters, digits, ``_``, ``.`` and ``-`` only, at least one."""
    return bool(text) and text.replace(".", "a").replace("-", "a").replace("_", "a").isalnum()


def _dotted_host(entry: str) -> str | None:
    """The host of ``host.domain[:port]/path`` (a Kustomize remote shorthand), or None."""
    head, slash, _ = entry.partition("/")
    if not slash:
        return None
    host, colon, port = head.partition(":")
    if colon and not (port.isascii() and port.isdigit()):
        return None
    labels = host.split(".")
    if len(labels) < 2 or not all(label and set(label) <= _LABEL_CHARS for label in labels):
        return None
    return host


def local_roots(root: Path, *, checkout: Path, allowed_hosts: Iterable[str] = ()) -> list[Path]:
    """Check the kustomization tree at ``root``; return every local Kustomize root in it.

    Raises :class:`SourceError` for a refused remote reference, a path that resolves
    outside ``checkout``, a missing local base, a cycle or an unreadable kustomization.
    The returned folders are real paths, ``root`` first.
    """
    allowed = frozenset(host.lower() for host in allowed_hosts)
    real_checkout = checkout.resolve()
    visited: list[Path] = []
    _walk(root.resolve(), chain=(), visited=visited, checkout=real_checkout, allowed=allowed)
    return visited


def _walk(
    directory: Path, *, chain: tuple[Path, ...], visited: list[Path], checkout: Path, allowed: frozenset[str]
) -> None:
    shown = _shown(directory, checkout)
    if directory in chain:
        names = " -> ".join(_shown(item, checkout) for item in (*chain[chain.index(directory) :], directory))
        raise SourceError(f"kustomization cycle: {names}")
    if directory in visited:
        return
    if len(visited) >= MAX_KUSTOMIZATIONS:
        raise SourceError(f"more than {MAX_KUSTOMIZATIONS} kustomizations (limit)")
    visited.append(directory)
    path = find_kustomization(directory)
    if path is None:
        raise SourceError(f"{shown}: a folder used as a Kustomize base has no kustomization.yaml")
    data = _load(path, shown=shown)
    for field in _HELM_FIELDS:
        if data.get(field):
            raise SourceError(
                f"{shown}/{path.name}: {field}: Helm charts are not supported (kustomize would run helm "
                "with --enable-helm). Commit the output of `helm template` and list it in resources"
            )
    for field, entry in _references(data):
        where = f"{shown}/{path.name}: {field}"
        if len(entry) > MAX_REFERENCE:
            raise SourceError(
                f"{where}: a reference of {len(entry)} characters is longer than the {MAX_REFERENCE} limit"
            )
        host = remote_host(entry)
        if host is not None:
            _check_remote(host, entry=entry, where=where, allowed=allowed)
            continue
        target = _local(directory, entry)
        if not target.exists():
            guess = _dotted_host(entry.strip())
            if guess:
                _check_remote(guess.lower(), entry=entry, where=where, allowed=allowed)
                continue
            raise SourceError(f"{where}: {_shown_entry(entry)!r} does not exist")
        real = target.resolve()
        if not (real == checkout or checkout in real.parents):
            raise SourceError(
                f"{where}: {_shown_entry(entry)!r} resolves outside the repository (escapes the checkout)"
            )
        if real.is_dir() and field in (
            "resources",
            "bases",
            "components",
            "generators",
            "transformers",
            "validators",
        ):
            _walk(real, chain=(*chain, directory), visited=visited, checkout=checkout, allowed=allowed)


def _check_remote(host: str, *, entry: str, where: str, allowed: frozenset[str]) -> None:
    if host not in allowed:
        raise SourceError(
            f"{where}: remote base {_shown_entry(entry)!r} refused: host {_shown_entry(host)!r} is not in "
            "the cluster's allowed_remote_hosts"
        )


def _shown_entry(entry: str) -> str:
    """A reference as an error quotes it: URL credentials masked, bounded."""
    return texts.bound(texts.mask_url_credentials(entry), _SHOWN_REFERENCE)


def _local(directory: Path, entry: str) -> Path:
    text = entry.strip()
    if text.startswith("/"):
        return Path(text)
    return directory / text


def _shown(path: Path, checkout: Path) -> str:
    try:
        relative = path.relative_to(checkout).as_posix()
    except ValueError:
        return str(path)
    return relative if relative != "." else "."


def _load(path: Path, *, shown: str) -> Mapping[str, Any]:
    try:
        size = path.stat().st_size
        if size > MAX_KUSTOMIZATION_BYTES:
            raise SourceError(f"{shown}/{path.name}: larger than the {MAX_KUSTOMIZATION_BYTES} byte limit")
        data = specs.load_yaml_bounded(
            path.read_text(encoding="utf-8", errors="replace"), max_bytes=MAX_KUSTOMIZATION_BYTES
        )
    except SourceError:
        raise
    except (OSError, ValueError) as exc:
        raise SourceError(f"{shown}/{path.name}: cannot be read: {_first_line(exc)}") from None
    except yaml.YAMLError as exc:  # the problem and the line, never the content
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise SourceError(f"{shown}/{path.name}: not valid YAML{where}") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise SourceError(f"{shown}/{path.name}: must be a mapping")
    return data


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:300]


def _references(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """Every path-like reference in a kustomization, with the field it came from."""
    for field in _LIST_FIELDS:
        for item in _as_list(data.get(field)):
            if isinstance(item, str) and "\n" not in item:
                yield field, item
    for field in _PATCH_FIELDS:
        for item in _as_list(data.get(field)):
            if isinstance(item, str) and "\n" not in item:
                yield field, item
            elif isinstance(item, Mapping) and isinstance(item.get("path"), str):
                yield field, item["path"]
    for field in _GENERATORS:
        for generator in _as_list(data.get(field)):
            if not isinstance(generator, Mapping):
                continue
            for key in ("files", "envs"):
                for item in _as_list(generator.get(key)):
                    if isinstance(item, str):
                        yield f"{field}.{key}", item.split("=", 1)[-1]
            if isinstance(generator.get("env"), str):
                yield f"{field}.env", generator["env"]
    openapi = data.get("openapi")
    if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
        yield "openapi", openapi["path"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
