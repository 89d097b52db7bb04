"""A real run's recap read as per-host results and one run status.

Each host ends ``unreachable`` (it dropped out), ``failed`` (a task failed), ``changed``
or ``ok``. The run is ``succeeded`` when every host converged, ``partial`` when some
hosts failed or were unreachable while others converged, and ``failed`` when none
converged or the playbook never reached the recap (a syntax error, a missing file, an
undefined variable at play level). :func:`describe_problems` names the hosts and the
tasks that went wrong, for the run's error text. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from truenorth.core import redaction, runs
from truenorth.engines.ansible import events

__all__ = ["describe_problems", "host_results", "run_status"]

#: ansible-playbook's exit codes when some hosts failed (2) or were unreachable (4, 3 in old versions).
_HOST_PROBLEM_CODES = frozenset({2, 3, 4, 6})


def host_results(recap: events.Recap) -> tuple[runs.HostResult, ...]:
    """One :class:`~truenorth.core.runs.HostResult` per host in the recap, sorted by host."""
    results = []
    for host in recap.hosts:
        failed = recap.failures.get(host, 0)
        dark = recap.dark.get(host, 0)
        changed = recap.changed.get(host, 0)
        if dark:
            status = runs.HostStatus.UNREACHABLE
        elif failed:
            status = runs.HostStatus.FAILED
        elif changed:
            status = runs.HostStatus.CHANGED
        else:
            status = runs.HostStatus.OK
        results.append(
            runs.HostResult(
                host=host,
                status=status,
                ok=recap.ok.get(host, 0),
                changed=changed,
                failed=failed,
                unreachable=dark,
                skipped=recap.skipped.get(host, 0),
            )
        )
    return tuple(results)


def run_status(hosts: Sequence[runs.HostResult], *, rc: int, recap_seen: bool) -> runs.RunStatus:
    """``succeeded``, ``partial`` or ``failed`` for a finished run."""
    if not recap_seen:
        return runs.RunStatus.FAILED
    bad = [item for item in hosts if item.status in (runs.HostStatus.FAILED, runs.HostStatus.UNREACHABLE)]
    good = [item for item in hosts if item not in bad]
    if bad:
        return runs.RunStatus.PARTIAL if good else runs.RunStatus.FAILED
    if rc == 0 or rc in _HOST_PROBLEM_CODES:
        return runs.RunStatus.SUCCEEDED
    return runs.RunStatus.FAILED


def describe_problems(
    outcomes: Iterable[events.TaskOutcome],
    hosts: Sequence[runs.HostResult],
    *,
    redactor: redaction.Redactor,
) -> str:
    """One line per failed or unreachable host, naming the task and Ansible's message."""
    lines: list[str] = []
    reported: set[str] = set()
    for outcome in outcomes:
        if outcome.kind is events.ResultKind.UNREACHABLE:
            what = "unreachable"
        elif outcome.kind is events.ResultKind.FAILED and not outcome.ignored:
            what = "failed"
        else:
            continue
        if outcome.host in reported:
            continue
        reported.add(outcome.host)
        lines.append(f"{outcome.host}: {what} at task '{outcome.task}': {outcome.message or 'no message'}")
    for item in hosts:
        if item.host in reported:
            continue
        if item.status is runs.HostStatus.UNREACHABLE:
            lines.append(f"{item.host}: unreachable")
        elif item.status is runs.HostStatus.FAILED:
            lines.append(f"{item.host}: failed")
    return redactor("\n".join(lines))
