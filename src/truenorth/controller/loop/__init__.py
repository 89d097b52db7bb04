"""The reconcile loop: one asyncio task per tracked repository, from a push to converged.

``reconciling`` runs the passes of one repository (check the branch, fetch, validate,
decide, converge, check drift); ``operating`` holds the operations on one stack that a
pass or an action runs (reconcile, apply a stored plan, roll back, check drift);
``scheduling`` and ``repositories`` keep what each stack and repository needs next;
``recovery`` ends what a killed controller left in flight. ``contexts``, ``locks``,
``workers``, ``clocks`` and ``metrics`` are the loop's plumbing.
"""
