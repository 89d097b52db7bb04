"""Loading a configuration: the TOML file, then ``TRUENORTH_*`` variables, then flags.

:func:`load_config` reads the file (optional), refuses unknown top-level settings,
resolves the top-level scalars (``listen``, ``data_dir``, ``store_url`` with
``store_password_env``, ``workers``, ``log_format``, ``operation_timeout``) with flags
winning over variables winning over the file, and hands each section to its own parser
(:mod:`~truenorth.config.repositories`, :mod:`~truenorth.config.tokens`,
:mod:`~truenorth.config.webhooks`, :mod:`~truenorth.config.retries`,
:mod:`~truenorth.config.clusters`, :mod:`~truenorth.config.secrets`). Every problem is a
:class:`~truenorth.config.settings.ConfigError` naming the setting.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from truenorth.config import (
    clusters,
    forges,
    interface,
    notifications,
    repositories,
    retries,
    sandboxes,
    secrets,
    settings,
    tokens,
    values,
    webhooks,
)

__all__ = ["load_config", "parse_listen"]

_KNOWN = (
    "listen", "data_dir", "store_url", "store_password_env", "workers", "log_format",
    "retry", "repositories", "webhooks", "tokens", "clusters", "secrets", "operation_timeout",
    "sandbox", "limits", "ui", "lease_seconds", "terraform_state_url", "terraform_state_password_env",
    *notifications.KEYS,
)  # fmt: skip


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:8080`` for IPv6) into its parts."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise settings.ConfigError(f"listen: {value!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


def load_config(
    path: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> settings.ControllerConfig:
    """Read ``path`` (optional), apply ``TRUENORTH_*`` variables, then ``overrides`` (flags).

    ``overrides`` may hold ``repo`` (URL), ``branch``, ``listen``, ``data_dir``,
    ``store_url``, ``poll_interval`` (seconds), ``notify`` (Apprise URLs, ``--notify``). A
    ``repo`` override adds (or replaces) a repository named ``default``.
    """
    env = dict(os.environ if environ is None else environ)
    raw = _read(path) if path is not None else {}
    values.known(raw, _KNOWN, "the configuration")
    flags = dict(overrides or {})

    def scalar(key: str, default: Any) -> Any:
        if flags.get(key) is not None:
            return flags[key]
        env_key = f"TRUENORTH_{key.upper()}"
        if env.get(env_key):
            return env[env_key]
        return raw.get(key, default)

    listen = str(scalar("listen", settings.DEFAULT_LISTEN))
    parse_listen(listen)
    log_format = str(scalar("log_format", "text"))
    if log_format not in ("text", "json"):
        raise settings.ConfigError("log_format: must be 'text' or 'json'")
    store_url = scalar("store_url", None)
    if store_url and raw.get("store_password_env"):
        password = values.from_env(env, str(raw["store_password_env"]), "store_password_env")
        store_url = _with_password(str(store_url), password)
    terraform_state_url = _terraform_state_url(scalar("terraform_state_url", None), raw=raw, env=env)
    secret_files, secret_envs = secrets.parse(raw)
    tracked = repositories.overridden(repositories.parse(raw, env), flags=flags, env=env)
    forge_tables = forges.parse(raw, env)
    tracked = tuple(dataclasses.replace(r, forge=forge_tables.get(r.name)) for r in tracked)
    return settings.ControllerConfig(
        repositories=tracked,
        listen=listen,
        data_dir=Path(str(scalar("data_dir", ".truenorth"))),
        store_url=str(store_url) if store_url else None,
        workers=values.whole_number(scalar("workers", 4), "workers", low=1, high=64),
        log_format=log_format,
        retry=retries.parse(raw, env),
        webhook_secret=webhooks.parse(raw, env),
        tokens=tokens.parse(raw, env),
        clusters=clusters.parse(raw),
        secret_files=secret_files,
        secret_envs=secret_envs,
        operation_timeout=values.duration(scalar("operation_timeout", "1h"), "operation_timeout"),
        lease_seconds=_lease_seconds(scalar("lease_seconds", settings.DEFAULT_LEASE_SECONDS)),
        terraform_state_url=terraform_state_url,
        sandbox=sandboxes.mode(scalar("sandbox", "auto")),
        limits=sandboxes.limits(raw, env),
        secure_cookies=interface.secure_cookies(raw, env),
        notifications=notifications.parse(
            raw, env, notify=flags.get("notify") or (), repositories=[r.name for r in tracked]
        ),
    )


def _lease_seconds(value: Any) -> float:
    """``lease_seconds``: seconds (a number, ``"30"`` from the environment, or ``"30s"``), 1..3600."""
    if isinstance(value, str) and value.strip().replace(".", "", 1).isdigit():
        value = float(value)
    seconds = values.duration(value, "lease_seconds")
    if not 1.0 <= seconds <= 3600.0:
        raise settings.ConfigError(f"lease_seconds: must be 1..3600 seconds, got {seconds:g}")
    return seconds


def _terraform_state_url(value: Any, *, raw: Mapping[str, Any], env: Mapping[str, str]) -> str | None:
    """``terraform_state_url`` (``TRUENORTH_TERRAFORM_STATE_URL``), with ``terraform_state_password_env``.

    A ``postgresql://`` (or ``postgres://``) URL; never repeated in an error (it may
    hold a password).
    """
    if value is None or value == "":
        if raw.get("terraform_state_password_env"):
            raise settings.ConfigError("terraform_state_password_env: needs terraform_state_url")
        return None
    url = str(value)
    scheme = url.partition("://")[0].lower()
    if "://" not in url or not (scheme in ("postgres", "postgresql") or scheme.startswith("postgresql+")):
        raise settings.ConfigError(
            "terraform_state_url: must be a postgresql:// URL (the database of Terraform's pg backend)"
        )
    if any(char in url for char in "\x00\r\n"):
        raise settings.ConfigError("terraform_state_url: holds a control character")
    if raw.get("terraform_state_password_env"):
        password = values.from_env(
            env, str(raw["terraform_state_password_env"]), "terraform_state_password_env"
        )
        url = _with_password(url, password, setting="terraform_state_url")
    return url


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise settings.ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise settings.ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise settings.ConfigError(f"{path}: not valid TOML: {exc}") from None


def _with_password(url: str, password: str, *, setting: str = "store_url") -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        raise settings.ConfigError(
            f"{setting}: {setting.removesuffix('_url')}_password_env needs a URL with a user "
            "(postgresql://user@host/db)"
        )
    user, _, host = rest.partition("@")
    return f"{scheme}://{user.split(':')[0]}:{quote(password, safe='')}@{host}"
