"""``truenorth serve``: run the controller and its HTTP API in this process.

With ``--config truenorth.toml`` everything comes from the file (see
``truenorth.config``); for a quick start ``--repo URL`` alone is enough. The
admin API token comes from ``TRUENORTH_TOKEN`` and the webhook secret from
``TRUENORTH_WEBHOOK_SECRET``; every other setting can be overridden by a
``TRUENORTH_*`` variable. Without a token the API answers 401 to everything (``/healthz``,
``/readyz``, ``/metrics`` still work); without a webhook secret webhooks are refused and
changes arrive by polling. Both cases are logged as warnings at start. The HTTP deadlines
for a request's headers and body (10 s each) can be changed with
``TRUENORTH_HTTP_HEADER_TIMEOUT`` and ``TRUENORTH_HTTP_BODY_TIMEOUT``. SIGTERM or Ctrl-C stop
the server gracefully: running requests finish, then the controller stops.

One controller per data dir (:mod:`truenorth.controller.runs.ownership`): ``serve`` holds the
data dir's lock (and, on PostgreSQL, an advisory lock keyed by the data dir's instance id)
for as long as it runs; a second one exits at start naming the first (host, pid, URL).
On PostgreSQL, several ``serve`` with their own data dirs are replicas that share the
repositories (``docs/scale-out.md``). Everything it writes under the data dir is private
to its user (umask 077).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from truenorth import texts
from truenorth.core import durations, redaction

# The server, the controller and the store are imported when ``serve`` runs, not when the
# CLI starts: every other command would pay for them (``tests/cli/test_imports.py``).
if TYPE_CHECKING:
    from truenorth import config as controller_config
    from truenorth.controller.runs import ownership

__all__ = ["register", "serve", "startup_warnings"]

_log = logging.getLogger("truenorth.serve")


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""
    app.command("serve")(serve)


def serve(
    config: Annotated[
        Path | None, typer.Option("--config", help="Controller configuration (TOML).", dir_okay=False)
    ] = None,
    repo: Annotated[
        str | None, typer.Option("--repo", help="Track this repository (URL or path) as 'default'.")
    ] = None,
    branch: Annotated[str | None, typer.Option("--branch", help="Branch of --repo (default main).")] = None,
    listen: Annotated[
        str | None, typer.Option("--listen", help="HOST:PORT to serve on (default 127.0.0.1:8080).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where state lives (default ./.truenorth).")
    ] = None,
    store: Annotated[
        str | None, typer.Option("--store", help="Database URL (default: SQLite in the data dir).")
    ] = None,
    poll_interval: Annotated[
        str | None,
        typer.Option("--poll-interval", help="How often to check Git, e.g. 60s, 5m (default 60s)."),
    ] = None,
    notify: Annotated[
        list[str] | None,
        typer.Option(
            "--notify",
            help="Send every event to this Apprise URL (repeatable), e.g. json://host/path. "
            "A URL holding a token is better given by reference: [[notifications]] urls_env.",
        ),
    ] = None,
) -> None:
    """Run the controller: reconcile continuously, serve the API, webhooks and /metrics."""
    from truenorth import config as controller_config
    from truenorth.controller import errors as controller_errors
    from truenorth.controller.actions import facade
    from truenorth.engines import processes
    from truenorth.server import app as server_app
    from truenorth.server import limits, logs, serving

    overrides = {
        "repo": repo,
        "branch": branch,
        "listen": listen,
        "data_dir": str(data_dir) if data_dir is not None else None,
        "store_url": store,
        "poll_interval": poll_interval,
        "notify": tuple(notify or ()),
    }
    try:
        settings = controller_config.load_config(config, overrides=overrides)
    except controller_config.ConfigError as exc:
        _fail(f"configuration: {exc}")
    if not settings.repositories:
        _fail("nothing to reconcile: give --repo URL, or [[repositories]] in --config")
    try:
        body_timeout = _seconds("TRUENORTH_HTTP_BODY_TIMEOUT", limits.DEFAULT_BODY_TIMEOUT)
        header_timeout = _seconds("TRUENORTH_HTTP_HEADER_TIMEOUT", serving.HEADER_TIMEOUT)
    except durations.DurationError as exc:
        _fail(str(exc))
    redact = redaction.Redactor(settings.secret_values())
    logs.configure(log_format=settings.log_format, secrets=settings.secret_values())
    os.umask(processes.PRIVATE_UMASK)  # the database, state, plans and artifacts: 0600 files, 0700 folders
    with _owned(settings, redact) as owned:
        for warning in startup_warnings(settings):
            _log.warning("%s", warning)
        try:
            sock = serving.bind(settings.listen)
        except OSError as exc:
            _fail(f"cannot listen on {settings.listen}: {exc.strerror or exc}")
        try:
            with controller_errors.store_unavailable():
                controller = facade.Controller(settings)
        except (controller_errors.ControllerError, OSError) as exc:
            sock.close()
            _fail(redact(f"cannot start the controller: {exc}"))
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        owned.describe(url=f"http://{shown}:{port}")
        controller.sharing.address = f"http://{shown}:{port}"  # the replicas table shows it
        sys.stdout.write(
            f"truenorth serving http://{shown}:{port} (API /api/v1, docs /api/v1/docs, metrics /metrics)\n"
        )
        sys.stdout.flush()
        application = server_app.create_app(controller, settings, body_timeout=body_timeout)
        if not serving.run(application, sock=sock, header_timeout=header_timeout):
            raise typer.Exit(1)


@contextlib.contextmanager
def _owned(
    settings: controller_config.ControllerConfig, redact: redaction.Redactor
) -> Iterator[ownership.Ownership]:
    """Hold the data dir (and a PostgreSQL store) for this controller, or exit naming the holder."""
    from truenorth.controller import errors as controller_errors
    from truenorth.controller.runs import ownership

    label = f"truenorth serve {socket.gethostname()}:{os.getpid()}"
    try:
        owned = ownership.claim(settings.data_dir, command="truenorth serve")
    except ownership.DataDirBusy as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot use data dir {settings.data_dir}: {exc.strerror or exc}")
    with owned:
        try:
            with controller_errors.store_unavailable():
                owned.claim_store(settings.store_url, label=label)
        except ownership.DataDirBusy as exc:
            _fail(redact(str(exc)))
        except controller_errors.ControllerError as exc:
            _fail(redact(f"cannot start the controller: {exc}"))
        yield owned


def startup_warnings(settings: controller_config.ControllerConfig) -> list[str]:
    """What an operator should know about a configuration that runs but is limited."""
    from truenorth import config as controller_config

    warnings = []
    if not settings.tokens:
        warnings.append(
            "no API token configured (set TRUENORTH_TOKEN or [[tokens]]): every API call will get 401; "
            "/healthz, /readyz and /metrics still answer"
        )
    if not settings.webhook_secret:
        warnings.append(
            "no webhook secret configured (set TRUENORTH_WEBHOOK_SECRET or [webhooks]): webhooks are "
            "refused with 403 and changes are found by polling only"
        )
    host, _ = controller_config.parse_listen(settings.listen)
    if host not in ("127.0.0.1", "localhost", "::1"):
        warnings.append(f"listening on {host}: /metrics needs no token, put the API behind TLS")
    return warnings


def _seconds(variable: str, default: float) -> float:
    """A duration from the environment (``10s``, ``1m``), or ``default``."""
    text = os.environ.get(variable)
    if not text:
        return default
    try:
        return durations.parse_duration(text, maximum=3600)
    except durations.DurationError as exc:
        raise durations.DurationError(f"{variable}: {exc}") from None


def _say(message: str) -> None:
    sys.stderr.write(texts.escape_controls(message) + "\n")
    sys.stderr.flush()


def _fail(message: str) -> NoReturn:
    _say(f"Error: {redaction.redact_url_credentials(message)}")
    raise typer.Exit(1)
