"""The exit codes of ``truenorth plan`` and ``drift``, as one rule CI can gate on.

``terraform plan -detailed-exitcode`` says 0 (nothing to change), 2 (changes) or 1 (an
error). truenorth adds what only some engines know:

* **1** when a stack's plan failed, or is *partial* (an Ansible host failed a task or was
  unreachable, so what it would do was not all checked): a plan that cannot see
  everything never reads clean, nor as an ordinary change;
* **2** when a plan has a *definite* change (something to add, change or destroy, a
  changed output) or waits for an input not known yet (it is not in sync);
* **0** otherwise: in particular, changes the engine cannot predict (``unknown``: an
  Ansible ``command`` or ``shell`` task check mode skips) do not count, so a playbook
  re-planned right after its apply reads clean. ``--unknown-is-change`` counts them
  (exit 2), for a pipeline that would rather stop on what it cannot see.

The controller's own rule is not this one: it still treats an unknown change as a
reason to apply (:attr:`truenorth.core.plans.PlanSummary.has_changes`). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from truenorth.core import plans

__all__ = ["EXIT_CHANGES", "EXIT_ERROR", "EXIT_OK", "counts_as_change", "plan_exit_code"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


def counts_as_change(plan: plans.Plan, *, unknown_is_change: bool = False) -> bool:
    """Whether ``plan`` makes ``truenorth plan`` exit 2."""
    if plan.waiting_for or plan.summary.has_definite_changes:
        return True
    return unknown_is_change and plan.has_changes


def plan_exit_code(planned: Iterable[plans.Plan], *, failed: int, unknown_is_change: bool = False) -> int:
    """The exit code of a plan over several stacks (``failed``: stacks whose plan failed)."""
    found = list(planned)
    if failed or any(plan.partial for plan in found):
        return EXIT_ERROR
    if any(counts_as_change(plan, unknown_is_change=unknown_is_change) for plan in found):
        return EXIT_CHANGES
    return EXIT_OK
