"""The ``truenorth`` command line: one-shot operations and a client for a running controller."""
