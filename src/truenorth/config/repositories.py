"""The ``[[repositories]]`` section, and the ``--repo`` quick start that adds one.

Each entry is one branch of one URL, with a simple ``name``, a plain ``branch`` (never
``refs/heads/...``, ``HEAD`` or an option), a ``poll_interval`` and Git credentials by
reference (``credentials_env`` / ``credentials_file``; a password in the URL is
refused). ``truenorth serve --repo URL`` adds (or replaces) an entry named
``default``; ``--poll-interval`` / ``TRUENORTH_POLL_INTERVAL`` set every entry's
interval. Names must be unique; that two entries never track one (URL, branch) is a
rule of :class:`~truenorth.config.settings.ControllerConfig` itself.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from truenorth.config import sandboxes, settings, values
from truenorth.git import errors as git_errors
from truenorth.git import refs

__all__ = ["branch", "overridden", "parse"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_KEYS = (
    "name",
    "url",
    "branch",
    "poll_interval",
    "credentials_env",
    "credentials_file",
    "forge",  # read by truenorth.config.forges
    *sandboxes.REPOSITORY_KEYS,
)


def parse(raw: Mapping[str, Any], env: Mapping[str, str]) -> list[settings.RepositoryConfig]:
    """Every ``[[repositories]]`` entry of the file, in order."""
    return [_entry(item, env, index) for index, item in enumerate(values.array(raw, "repositories"))]


def overridden(
    repositories: list[settings.RepositoryConfig], *, flags: Mapping[str, Any], env: Mapping[str, str]
) -> tuple[settings.RepositoryConfig, ...]:
    """The entries once ``--repo``/``--branch``/``--poll-interval`` (or their variables) applied."""
    poll_flag = flags.get("poll_interval") or env.get("TRUENORTH_POLL_INTERVAL")
    if flags.get("repo"):
        repositories = [r for r in repositories if r.name != "default"]
        repositories.insert(
            0,
            settings.RepositoryConfig(
                name="default",
                url=str(flags["repo"]),
                branch=branch(flags.get("branch") or env.get("TRUENORTH_BRANCH") or "main", "branch"),
                poll_interval=values.duration(poll_flag or "60s", "poll_interval"),
                credentials=env.get("TRUENORTH_GIT_TOKEN") or None,
                # Its sandbox allowances, as the local commands' (TRUENORTH_SANDBOX_WRITABLE...).
                sandbox=sandboxes.from_environment(env)[0],
            ),
        )
    elif poll_flag:
        interval = values.duration(poll_flag, "poll_interval")
        repositories = [dataclasses.replace(r, poll_interval=interval) for r in repositories]
    names = [r.name for r in repositories]
    if len(set(names)) != len(names):
        raise settings.ConfigError("repositories: names must be unique")
    return tuple(repositories)


def branch(value: Any, where: str) -> str:
    """A branch name git accepts (``main``, ``release/1.2``): not a ref path, a SHA range or an option."""
    if not isinstance(value, str):
        raise settings.ConfigError(f"{where}: must be a branch name (text)")
    try:
        refs.check_ref(value)
    except git_errors.GitError as exc:
        raise settings.ConfigError(f"{where}: {exc.message}") from None
    if value == "HEAD" or value.startswith("refs/"):
        raise settings.ConfigError(
            f"{where}: {value!r} is not a plain branch name (write 'main', not 'refs/heads/main')"
        )
    return value


def _entry(item: Any, env: Mapping[str, str], index: int) -> settings.RepositoryConfig:
    where = f"repositories[{index}]"
    if not isinstance(item, dict):
        raise settings.ConfigError(f"{where}: must be a table")
    values.known(item, _KEYS, where)
    name = item.get("name", "")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise settings.ConfigError(f"{where}.name: missing or not a simple name")
    url = item.get("url")
    if not isinstance(url, str) or not url:
        raise settings.ConfigError(f"{where}.url: missing")
    if _has_password(url):
        raise settings.ConfigError(
            f"{where}.url: put credentials in credentials_env or credentials_file, not in the URL"
        )
    return settings.RepositoryConfig(
        name=name,
        url=url,
        branch=branch(item.get("branch", "main"), f"{where}.branch"),
        poll_interval=values.duration(item.get("poll_interval", "60s"), f"{where}.poll_interval"),
        credentials=values.secret(item, env, f"{where}.credentials", prefix="credentials"),
        sandbox=sandboxes.repository_policy(item, where),
    )


def _has_password(url: str) -> bool:
    """``scheme://user:password@host/...``: a secret written into the file."""
    if "://" not in url:
        return False
    authority = url.split("://", 1)[1].split("/", 1)[0]
    return "@" in authority and ":" in authority.split("@")[0]
