"""Alembic migrations of the state database, run in code by the store (no alembic.ini).

``env.py`` takes the connection the store hands over in ``config.attributes`` and runs
the revisions in ``versions/`` on it, inside the store's own transaction. Revisions are
written by hand and never import the live schema, so each stays what it was.
"""

__all__: list[str] = []
