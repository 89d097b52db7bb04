"""``make bench``: truenorth against what its users run today, measured side by side (issue 16).

Run it as ``python -m benchmarks`` from the repository root (``make bench`` does, after
setting up what it needs); ``--smoke`` runs every benchmark at a tiny size so that
``make test`` keeps the harness working (``tests/test_benchmarks.py``). One run writes
``benchmarks/results.json`` (``{"commit", "machine", "results": {ID: {"value", "unit",
"goal", "met"}}}``, lower is better everywhere) and ``docs/benchmarks.md``.

Each benchmark module builds its own inputs in a temporary folder and measures the work
a user's repository causes, never a shortcut to its goal: where there is a tool to
compare with, runs alternate between truenorth and that tool so that load on the (shared)
machine hits both alike, and medians are reported. :mod:`benchmarks.catalog` lists what
is measured and what is not measured yet.
"""
