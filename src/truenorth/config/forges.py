"""A repository's ``forge`` sub-table: where its merge requests live and who may preview them.

::

    [[repositories]]
    name = "infra"
    url = "https://github.com/org/infra.git"

    [repositories.forge]
    kind = "github"                      # github | gitlab | gitea (Forgejo: gitea)
    project = "org/infra"                # GitLab: the path (group/infra) or the numeric id
    api_url = "https://api.github.com"   # default per kind, except gitea (required)
    token_env = "GITHUB_TOKEN"           # or token_file; required
    preview_authors = ["ada", "grace"]   # default: anybody with write access
    preview_forks = false                # default: merge requests from forks wait for a maintainer
    preview_secrets = false              # default: preview plans get no secrets

The token is a secret by reference, as every one (masked in logs and errors). A forge
table names its project on the forge: a merge-request webhook is matched to the
repository whose ``kind`` and ``project`` (case-insensitive) are the event's and whose
``branch`` is the merge request's target.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from truenorth.config import settings, values
from truenorth.forges import protocol

__all__ = ["DEFAULT_API", "parse"]

#: The REST API of each forge's public service (Gitea and Forgejo are self-hosted: no default).
DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
#: ``token`` is known only to refuse it with the reason (a secret is given by reference).
_KEYS = (
    "kind", "project", "api_url", "token", "token_env", "token_file",
    "preview_authors", "preview_forks", "preview_secrets",
)  # fmt: skip
_PROJECT = re.compile(r"^[A-Za-z0-9_.-]{1,100}(/[A-Za-z0-9_.-]{1,100}){0,20}$")
_USER = re.compile(r"^[A-Za-z0-9_.\-\[\]]{1,100}$")


def parse(raw: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, settings.ForgeConfig]:
    """Repository name -> its forge settings, for every ``[[repositories]]`` entry that has one."""
    found: dict[str, settings.ForgeConfig] = {}
    for index, item in enumerate(values.array(raw, "repositories")):
        if not isinstance(item, dict) or "forge" not in item:
            continue
        name = item.get("name")
        if isinstance(name, str):
            found[name] = _forge(item["forge"], env, f"repositories[{index}].forge")
    return found


def _forge(item: Any, env: Mapping[str, str], where: str) -> settings.ForgeConfig:
    if not isinstance(item, dict):
        raise settings.ConfigError(f"{where}: must be a table")
    values.known(item, _KEYS, where)
    kind = item.get("kind")
    if kind not in protocol.KINDS:
        raise settings.ConfigError(f"{where}.kind: must be one of {', '.join(protocol.KINDS)}")
    project = values.text(item.get("project", ""), f"{where}.project")
    if not _PROJECT.fullmatch(project) or (kind != "gitlab" and project.count("/") != 1):
        raise settings.ConfigError(
            f"{where}.project: expected owner/name (GitLab: group/name or the numeric id)"
        )
    api_url = item.get("api_url", DEFAULT_API.get(kind))
    if api_url is None:
        raise settings.ConfigError(f"{where}.api_url: required for {kind} (https://HOST/api/v1)")
    api_url = values.text(api_url, f"{where}.api_url")
    if not api_url.startswith(("https://", "http://")) or any(char.isspace() for char in api_url):
        raise settings.ConfigError(f"{where}.api_url: must be an http(s) URL")
    token = values.secret(item, env, f"{where}.token", prefix="token")
    if not token:
        raise settings.ConfigError(f"{where}: give token_env or token_file (the forge's API token)")
    authors = item.get("preview_authors", [])
    if not isinstance(authors, list) or not all(isinstance(a, str) and _USER.fullmatch(a) for a in authors):
        raise settings.ConfigError(f"{where}.preview_authors: must be a list of user names")
    return settings.ForgeConfig(
        project=protocol.ForgeSettings(kind=kind, api_url=api_url.rstrip("/"), project=project, token=token),
        preview_authors=tuple(authors),
        preview_forks=_flag(item, "preview_forks", where),
        preview_secrets=_flag(item, "preview_secrets", where),
    )


def _flag(item: Mapping[str, Any], key: str, where: str) -> bool:
    value = item.get(key, False)
    if not isinstance(value, bool):
        raise settings.ConfigError(f"{where}.{key}: must be true or false")
    return value
