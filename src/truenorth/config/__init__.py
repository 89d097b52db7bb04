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

Where each part lives: :mod:`~truenorth.config.settings` (the frozen
:class:`ControllerConfig` and its parts, :class:`ConfigError`),
:mod:`~truenorth.config.loading` (:func:`load_config`: file, variables, flags, and
:func:`parse_listen`), one module per section (:mod:`~truenorth.config.repositories`,
:mod:`~truenorth.config.tokens`, :mod:`~truenorth.config.webhooks`,
:mod:`~truenorth.config.retries`, :mod:`~truenorth.config.clusters`,
:mod:`~truenorth.config.secrets`) and :mod:`~truenorth.config.values` for the value
parsers they share (durations, whole numbers, switches, secret references). This
package re-exports the public names: ``from truenorth import config``, then
``config.load_config(...)``, ``config.ControllerConfig``.
"""

from __future__ import annotations

from truenorth.config.loading import load_config, parse_listen
from truenorth.config.settings import (
    ROLES,
    ClusterConfig,
    ConfigError,
    ControllerConfig,
    ForgeConfig,
    RepositoryConfig,
    RetryConfig,
    TokenConfig,
)

__all__ = [
    "ROLES",
    "ClusterConfig",
    "ConfigError",
    "ControllerConfig",
    "ForgeConfig",
    "RepositoryConfig",
    "RetryConfig",
    "TokenConfig",
    "load_config",
    "parse_listen",
]
