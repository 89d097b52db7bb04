"""The controller's configuration: a TOML file, ``TRUENORTH_*`` overrides, and flags.

``truenorth serve --config truenorth.toml`` reads everything from the file; a quick start
needs only ``truenorth serve --repo URL``. Every scalar setting can be overridden by a
``TRUENORTH_*`` environment variable. Secrets (API tokens, webhook secrets, Git
credentials, vault passwords) are never values in the file: only references to an
environment variable (``*_env``) or a file (``*_file``), resolved at start-up.

Example::

    listen = "127.0.0.1:8080"
    data_dir = "/var/lib/truenorth"
    store_url = "postgresql://truenorth@db/truenorth"   # password: store_password_env
    workers = 4
    log_format = "json"

    [retry]
    initial = "5s"
    maximum = "3m"
    tries = 5

    [[repositories]]
    name = "infra"
    url = "https://git.example.com/org/infra.git"
    branch = "main"
    poll_interval = "60s"
    credentials_env = "INFRA_GIT_TOKEN"

    [webhooks]
    secret_env = "TRUENORTH_WEBHOOK_SECRET"

    [[tokens]]
    name = "ci"
    role = "operator"           # viewer | operator | admin
    token_env = "CI_TOKEN"

    [clusters.prod]
    kubeconfig = "/etc/truenorth/prod.kubeconfig"
    context = "prod"

    [secrets]
    prod-vault = { file = "/etc/truenorth/vault-pass" }
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from truenorth.core import durations
from truenorth.git import errors as git_errors
from truenorth.git import refs, urls
from truenorth.store import schema

__all__ = [
    "ROLES",
    "ClusterConfig",
    "ConfigError",
    "ControllerConfig",
    "RepositoryConfig",
    "RetryConfig",
    "TokenConfig",
    "load_config",
    "parse_listen",
]

ROLES = ("viewer", "operator", "admin")
DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_POLL_INTERVAL = 60.0
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


class ConfigError(ValueError):
    """The configuration is invalid; the message names the setting (never a secret value)."""


@dataclass(frozen=True)
class RetryConfig:
    """Backoff for failed operations: ``initial`` doubling up to ``maximum``, ``tries`` in all."""

    initial: float = 5.0
    maximum: float = 180.0
    tries: int = 5

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based)."""
        return float(min(self.maximum, self.initial * (2 ** max(0, attempt - 1))))


@dataclass(frozen=True)
class RepositoryConfig:
    """One tracked GitOps repository: a URL and a branch. ``credentials`` is the resolved token, if any.

    The pair (URL, branch) is the repository: two entries may track two branches of one
    URL (each with its own runs, stack states and engine state), never the same pair.
    """

    name: str
    url: str
    branch: str = "main"
    poll_interval: float = DEFAULT_POLL_INTERVAL
    credentials: str | None = field(default=None, repr=False)

    def fetch_url(self) -> str:
        """The URL with credentials embedded for https(s) fetches (never shown)."""
        if not self.credentials or not self.url.startswith(("https://", "http://")):
            return self.url
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://x-access-token:{self.credentials}@{rest.split('@', 1)[-1]}"


@dataclass(frozen=True)
class TokenConfig:
    """An API bearer token (resolved value) and its role."""

    name: str
    role: str
    token: str = field(repr=False)


@dataclass(frozen=True)
class ClusterConfig:
    """How to reach one Kubernetes cluster named as a stack ``target``."""

    name: str
    kubeconfig: str
    context: str | None = None
    allow_exec_credentials: bool = False
    allow_insecure_tls: bool = False
    allowed_remote_hosts: tuple[str, ...] = ()

    def settings(self) -> dict[str, str]:
        """The ``StackContext.settings`` the Kubernetes engine reads."""
        out = {
            "kubeconfig": self.kubeconfig,
            "allow_exec_credentials": str(self.allow_exec_credentials).lower(),
            "allow_insecure_tls": str(self.allow_insecure_tls).lower(),
            "allowed_remote_hosts": ",".join(self.allowed_remote_hosts),
        }
        if self.context:
            out["context"] = self.context
        return out


@dataclass(frozen=True)
class ControllerConfig:
    """Everything ``truenorth serve`` needs, with secrets already resolved."""

    repositories: tuple[RepositoryConfig, ...] = ()
    listen: str = DEFAULT_LISTEN
    data_dir: Path = Path(".truenorth")
    store_url: str | None = field(default=None, repr=False)
    workers: int = 4
    log_format: str = "text"
    retry: RetryConfig = field(default_factory=RetryConfig)
    webhook_secret: str | None = field(default=None, repr=False)
    tokens: tuple[TokenConfig, ...] = field(default=(), repr=False)
    clusters: Mapping[str, ClusterConfig] = field(default_factory=dict)
    secret_files: Mapping[str, Path] = field(default_factory=dict)
    secret_envs: Mapping[str, str] = field(default_factory=dict)
    #: Process-wide timeout for one engine operation.
    operation_timeout: float = 3600.0

    def __post_init__(self) -> None:
        """Refuse two entries that track the same (URL, branch): they would share everything."""
        seen: dict[str, str] = {}
        for repo in self.repositories:
            key = _identity(repo)
            if key in seen:
                location, _, branch = key.partition("#")
                raise ConfigError(
                    f"repositories: {seen[key]!r} and {repo.name!r} both track branch {branch!r} of "
                    f"{location}; track each (URL, branch) once (another branch of one URL is a "
                    "separate entry)"
                )
            seen[key] = repo.name

    def secret_values(self) -> list[str]:
        """Every resolved secret, for the log and error redactor."""
        values = [t.token for t in self.tokens]
        values += [r.credentials for r in self.repositories if r.credentials]
        if self.webhook_secret:
            values.append(self.webhook_secret)
        return values


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) into its parts."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"listen: {value!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ControllerConfig:
    """Read ``path`` (optional), apply ``TRUENORTH_*`` variables, then ``overrides`` (flags).

    ``overrides`` may hold ``repo`` (URL), ``branch``, ``listen``, ``data_dir``,
    ``store_url``, ``poll_interval`` (seconds). A ``repo`` override adds (or replaces) a
    repository named ``default``.
    """
    env = dict(os.environ if environ is None else environ)
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    known = {
        "listen", "data_dir", "store_url", "store_password_env", "workers", "log_format",
        "retry", "repositories", "webhooks", "tokens", "clusters", "secrets", "operation_timeout",
    }  # fmt: skip
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
    flags = dict(overrides or {})

    def scalar(key: str, default: Any) -> Any:
        if flags.get(key) is not None:
            return flags[key]
        env_key = f"TRUENORTH_{key.upper()}"
        if env.get(env_key):
            return env[env_key]
        return raw.get(key, default)

    listen = str(scalar("listen", DEFAULT_LISTEN))
    parse_listen(listen)
    workers = _int(scalar("workers", 4), "workers", low=1, high=64)
    log_format = str(scalar("log_format", "text"))
    if log_format not in ("text", "json"):
        raise ConfigError("log_format: must be 'text' or 'json'")
    store_url = scalar("store_url", None)
    if store_url and raw.get("store_password_env"):
        password = _from_env(env, str(raw["store_password_env"]), "store_password_env")
        store_url = _with_password(str(store_url), password)
    repositories = [_repository(item, env, index) for index, item in enumerate(_list(raw, "repositories"))]
    poll_flag = flags.get("poll_interval") or env.get("TRUENORTH_POLL_INTERVAL")
    if flags.get("repo"):
        repositories = [r for r in repositories if r.name != "default"]
        repositories.insert(
            0,
            RepositoryConfig(
                name="default",
                url=str(flags["repo"]),
                branch=_branch(flags.get("branch") or env.get("TRUENORTH_BRANCH") or "main", "branch"),
                poll_interval=_duration(poll_flag or "60s", "poll_interval"),
                credentials=env.get("TRUENORTH_GIT_TOKEN") or None,
            ),
        )
    elif poll_flag:
        repositories = [
            RepositoryConfig(r.name, r.url, r.branch, _duration(poll_flag, "poll_interval"), r.credentials)
            for r in repositories
        ]
    names = [r.name for r in repositories]
    if len(set(names)) != len(names):
        raise ConfigError("repositories: names must be unique")
    tokens = [_token(item, env, index) for index, item in enumerate(_list(raw, "tokens"))]
    if env.get("TRUENORTH_TOKEN"):
        tokens.append(TokenConfig(name="admin (TRUENORTH_TOKEN)", role="admin", token=env["TRUENORTH_TOKEN"]))
    webhooks = raw.get("webhooks", {})
    if not isinstance(webhooks, dict):
        raise ConfigError("webhooks: must be a table")
    webhook_secret = env.get("TRUENORTH_WEBHOOK_SECRET") or _secret_ref(webhooks, env, "webhooks.secret")
    retry_raw = raw.get("retry", {})
    if not isinstance(retry_raw, dict):
        raise ConfigError("retry: must be a table")
    retry = RetryConfig(
        initial=_duration(
            env.get("TRUENORTH_RETRY_INITIAL") or retry_raw.get("initial", "5s"), "retry.initial"
        ),
        maximum=_duration(
            env.get("TRUENORTH_RETRY_MAXIMUM") or retry_raw.get("maximum", "3m"), "retry.maximum"
        ),
        tries=_int(
            env.get("TRUENORTH_RETRY_TRIES") or retry_raw.get("tries", 5), "retry.tries", low=1, high=100
        ),
    )
    clusters = {name: _cluster(name, item) for name, item in _table(raw, "clusters").items()}
    secret_files: dict[str, Path] = {}
    secret_envs: dict[str, str] = {}
    for name, item in _table(raw, "secrets").items():
        if not isinstance(item, dict) or not ({"file", "env"} & set(item)):
            raise ConfigError(f"secrets.{name}: give file = PATH or env = NAME")
        if "file" in item:
            secret_files[name] = Path(str(item["file"]))
        else:
            secret_envs[name] = str(item["env"])
    return ControllerConfig(
        repositories=tuple(repositories),
        listen=listen,
        data_dir=Path(str(scalar("data_dir", ".truenorth"))),
        store_url=str(store_url) if store_url else None,
        workers=workers,
        log_format=log_format,
        retry=retry,
        webhook_secret=webhook_secret or None,
        tokens=tuple(tokens),
        clusters=clusters,
        secret_files=secret_files,
        secret_envs=secret_envs,
        operation_timeout=_duration(scalar("operation_timeout", "1h"), "operation_timeout"),
    )


def _list(raw: Mapping[str, Any], key: str) -> list[Any]:
    value = raw.get(key, [])
    if not isinstance(value, list):
        raise ConfigError(f"{key}: must be an array of tables ([[{key}]])")
    return value


def _table(raw: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: must be a table")
    return value


def _repository(item: Any, env: Mapping[str, str], index: int) -> RepositoryConfig:
    where = f"repositories[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be a table")
    unknown = set(item) - {"name", "url", "branch", "poll_interval", "credentials_env", "credentials_file"}
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s): {', '.join(sorted(unknown))}")
    name = str(item.get("name", ""))
    if not _NAME.fullmatch(name):
        raise ConfigError(f"{where}.name: missing or not a simple name")
    url = item.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{where}.url: missing")
    if (
        "@" in url.split("://", 1)[-1].split("/", 1)[0]
        and "://" in url
        and ":" in url.split("://", 1)[1].split("@")[0]
    ):
        raise ConfigError(
            f"{where}.url: put credentials in credentials_env or credentials_file, not in the URL"
        )
    return RepositoryConfig(
        name=name,
        url=url,
        branch=_branch(item.get("branch", "main"), f"{where}.branch"),
        poll_interval=_duration(item.get("poll_interval", "60s"), f"{where}.poll_interval"),
        credentials=_secret_ref(item, env, f"{where}.credentials", prefix="credentials"),
    )


def _branch(value: Any, where: str) -> str:
    """A branch name git accepts (``main``, ``release/1.2``): not a ref path, a SHA range or an option."""
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be a branch name (text)")
    try:
        refs.check_ref(value)
    except git_errors.GitError as exc:
        raise ConfigError(f"{where}: {exc.message}") from None
    if value == "HEAD" or value.startswith("refs/"):
        raise ConfigError(
            f"{where}: {value!r} is not a plain branch name (write 'main', not 'refs/heads/main')"
        )
    return value


def _identity(repo: RepositoryConfig) -> str:
    """What makes an entry one repository: its key (normalized URL and branch)."""
    try:
        key = urls.repository_key(repo.url, repo.branch)
    except git_errors.GitError:
        return f"{urls.redact(repo.url)}#{repo.branch}"
    if len(key) > schema.REPOSITORY_LENGTH:
        raise ConfigError(
            f"repository {repo.name!r}: URL and branch are too long together "
            f"(at most {schema.REPOSITORY_LENGTH} characters once normalized)"
        )
    return key


def _token(item: Any, env: Mapping[str, str], index: int) -> TokenConfig:
    where = f"tokens[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where}: must be a table")
    role = item.get("role")
    if role not in ROLES:
        raise ConfigError(f"{where}.role: must be one of {', '.join(ROLES)}")
    value = _secret_ref(item, env, f"{where}.token", prefix="token")
    if not value or len(value) < 16:
        raise ConfigError(f"{where}: token_env or token_file must give a token of at least 16 characters")
    return TokenConfig(name=str(item.get("name", f"token-{index}")), role=str(role), token=value)


def _cluster(name: str, item: Any) -> ClusterConfig:
    if not isinstance(item, dict) or not isinstance(item.get("kubeconfig"), str):
        raise ConfigError(f"clusters.{name}.kubeconfig: missing")
    hosts = item.get("allowed_remote_hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) for h in hosts):
        raise ConfigError(f"clusters.{name}.allowed_remote_hosts: must be a list of host names")
    return ClusterConfig(
        name=name,
        kubeconfig=item["kubeconfig"],
        context=item.get("context"),
        allow_exec_credentials=bool(item.get("allow_exec_credentials", False)),
        allow_insecure_tls=bool(item.get("allow_insecure_tls", False)),
        allowed_remote_hosts=tuple(hosts),
    )


def _secret_ref(
    item: Mapping[str, Any], env: Mapping[str, str], where: str, *, prefix: str = "secret"
) -> str | None:
    if prefix in item:
        raise ConfigError(
            f"{where}: secrets are given by reference ({prefix}_env or {prefix}_file), never inline"
        )
    if f"{prefix}_env" in item:
        return _from_env(env, str(item[f"{prefix}_env"]), f"{where}_env")
    if f"{prefix}_file" in item:
        try:
            return Path(str(item[f"{prefix}_file"])).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{where}_file: cannot read: {exc.strerror}") from None
    return None


def _from_env(env: Mapping[str, str], name: str, where: str) -> str:
    value = env.get(name)
    if not value:
        raise ConfigError(f"{where}: environment variable {name} is not set")
    return value


def _with_password(url: str, password: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        raise ConfigError("store_url: store_password_env needs a URL with a user (postgresql://user@host/db)")
    user, _, host = rest.partition("@")
    from urllib.parse import quote

    return f"{scheme}://{user.split(':')[0]}:{quote(password, safe='')}@{host}"


def _duration(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if value <= 0:
            raise ConfigError(f"{where}: must be positive")
        return float(value)
    try:
        return durations.parse_duration(value)
    except durations.DurationError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _int(value: Any, where: str, *, low: int, high: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: must be a whole number") from None
    if not low <= number <= high:
        raise ConfigError(f"{where}: must be between {low} and {high}")
    return number
