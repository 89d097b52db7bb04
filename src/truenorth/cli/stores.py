"""``truenorth store``: commands on the state database itself (``store migrate``).

The store is reached through the controller's local room
(:mod:`truenorth.controller.local.storing`); the CLI never imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add the ``store`` command group to ``app``."""
    group = typer.Typer(help="The state database: move it to PostgreSQL.", no_args_is_help=True)

    @group.command("migrate")
    def migrate(
        to: Annotated[
            str, typer.Option("--to", help="The empty PostgreSQL store: postgresql://USER@HOST/DB.")
        ],
        data_dir: Annotated[
            Path, typer.Option("--data-dir", help="The data dir whose SQLite store is copied.")
        ] = Path(".truenorth"),
        store: Annotated[
            str | None, typer.Option("--store", help="Copy this store instead of the data dir's SQLite one.")
        ] = None,
    ) -> None:
        """Copy a SQLite store (runs, logs, stack states, outputs) into an empty PostgreSQL one.

        Stop the controller first. Sensitive outputs stay sealed: start the new
        controllers with the same outputs key. See docs/scale-out.md.
        """
        from truenorth.cli import main as cli_main
        from truenorth.controller import errors
        from truenorth.controller.local import storing

        try:
            counts = storing.migrate_store(data_dir=data_dir, target_url=to, source_url=store)
        except errors.ControllerError as exc:
            cli_main.fail(exc.message)
        summary = ", ".join(f"{count} {table.replace('_', ' ')}" for table, count in counts.items())
        typer.echo(f"copied {summary}")

    app.add_typer(group, name="store")
