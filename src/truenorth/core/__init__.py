"""Pure models and rules: the spec, plans, runs, ordering and redaction. No I/O here."""
