"""Hand-written revisions of the state database schema, oldest first."""

__all__: list[str] = []
