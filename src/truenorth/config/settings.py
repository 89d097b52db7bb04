"""What a loaded configuration is: frozen settings with every secret already resolved.

:func:`truenorth.config.loading.load_config` builds a :class:`ControllerConfig` from
the file, the environment and flags; the controller, the server and ``truenorth serve``
only ever read one. The dataclasses are frozen and keep secrets out of their ``repr``.
One rule holds however a configuration is built (from a file or in a test): two
repositories never track the same (URL, branch), since they would share runs, stack
states and engine state (:meth:`ControllerConfig.__post_init__`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from truenorth import texts
from truenorth.engines import sandbox as sandboxing
from truenorth.forges import protocol as forge_protocol
from truenorth.git import errors as git_errors
from truenorth.git import urls
from truenorth.notify import subscriptions as notify_subscriptions
from truenorth.store import schema

__all__ = [
    "DEFAULT_LEASE_SECONDS",
    "DEFAULT_LISTEN",
    "DEFAULT_POLL_INTERVAL",
    "ROLES",
    "ClusterConfig",
    "ConfigError",
    "ControllerConfig",
    "RepositoryConfig",
    "RetryConfig",
    "TokenConfig",
]

ROLES = ("viewer", "operator", "admin")
DEFAULT_LISTEN = "127.0.0.1:8080"
DEFAULT_POLL_INTERVAL = 60.0
#: A replica's lease of a repository (PostgreSQL replicas), seconds.
DEFAULT_LEASE_SECONDS = 30.0


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
class ForgeConfig:
    """A repository's forge project (its token resolved) and its preview rules.

    ``preview_authors``: only these may trigger a preview by opening or updating a merge
    request (empty: anybody who could push the branch to the repository itself, or whom
    the forge names a writer); ``preview_forks``: merge requests from forks are previewed
    (else a maintainer asks with a ``/truenorth plan`` comment); ``preview_secrets``:
    preview plans get the stacks' secrets (else none).
    """

    project: forge_protocol.ForgeSettings = field(repr=False)
    preview_authors: tuple[str, ...] = ()
    preview_forks: bool = False
    preview_secrets: bool = False


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
    #: What this repository's engine programs may do beyond the sandbox's defaults
    #: (:mod:`truenorth.config.sandboxes`); its ``mode`` is the controller's ``sandbox``.
    sandbox: sandboxing.Policy = field(default_factory=sandboxing.Policy)
    #: Where its merge requests live, and who may preview them (``forge`` sub-table,
    #: :mod:`truenorth.config.forges`); None: no previews, no comments.
    forge: ForgeConfig | None = None

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
    #: The cluster truenorth runs in, through its pod's service account (no kubeconfig).
    in_cluster: bool = False
    service_account_dir: str | None = None

    def settings(self) -> dict[str, str]:
        """The ``StackContext.settings`` the Kubernetes engine reads."""
        if self.in_cluster:
            found = {"in_cluster": "true", "allowed_remote_hosts": ",".join(self.allowed_remote_hosts)}
            if self.service_account_dir:
                found["service_account_dir"] = self.service_account_dir
            return found
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
    #: How long a replica's lease of a repository lasts unrenewed (PostgreSQL replicas;
    #: renewed every third of it): the failover time of a replica that dies.
    lease_seconds: float = DEFAULT_LEASE_SECONDS
    #: Where replicas keep the Terraform state of stacks that declare no backend (the
    #: ``pg`` backend, one schema per stack); None: the store's own database. A secret
    #: (it may hold a password); used only with a PostgreSQL store.
    terraform_state_url: str | None = field(default=None, repr=False)
    #: Whether engine programs run in bubblewrap (``sandbox``), and what each may use (``[limits]``).
    sandbox: sandboxing.Mode = sandboxing.Mode.AUTO
    limits: sandboxing.Limits = field(default_factory=sandboxing.Limits)
    #: Browsers reach the UI over HTTPS through a TLS-terminating proxy (``[ui]``): session
    #: cookies are always ``Secure`` and the page's origin is ``https://``.
    secure_cookies: bool = False
    #: Who hears of what (``[[notifications]]``, ``public_url``, ``--notify``).
    notifications: notify_subscriptions.NotificationSettings = field(
        default_factory=notify_subscriptions.NotificationSettings, repr=False
    )

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
        values += [r.forge.project.token for r in self.repositories if r.forge is not None]
        if self.webhook_secret:
            values.append(self.webhook_secret)
        values += self.notifications.secret_values()
        if self.terraform_state_url:
            values += _url_secrets(self.terraform_state_url)
        return values


def _url_secrets(url: str) -> list[str]:
    """A database URL and its password (as written and decoded), to mask wherever they appear."""
    found = [url]
    userinfo = texts.url_userinfo(url)
    if userinfo is not None and ":" in userinfo[1]:
        password = userinfo[1].partition(":")[2]
        found += [password, unquote(password)]
    query = url.partition("?")[2].partition("#")[0]
    found += [value for key, value in parse_qsl(query, keep_blank_values=True) if key == "password"]
    return [item for item in found if item]


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
