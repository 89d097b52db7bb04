"""Stopping a cancelled or timed-out Ansible run completely, detached workers included.

ansible-runner stops a run by killing ansible-playbook's process group, but since
ansible-core 2.19 every worker process calls ``setsid()``: workers, the modules they
run on local hosts and their SSH clients live in other process groups and would keep
running (a ``sleep 3600`` task would outlive a cancel). :func:`stop_run` finds the
run's ansible-playbook among this process's children by a marker in its environment,
collects every descendant from ``/proc`` while the tree is still intact, and kills
their process groups (never the controller's own). Linux only, like the controller.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

__all__ = ["descendants", "stop_run"]

_PROC = Path("/proc")


def _parents() -> dict[int, int]:
    """pid -> parent pid for every process visible in /proc."""
    table: dict[int, int] = {}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name is in parentheses and may hold spaces: split after it.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1:
            table[int(entry.name)] = int(fields[1])
    return table


def descendants(root: int, parents: dict[int, int] | None = None) -> list[int]:
    """Every process below ``root`` (not ``root`` itself)."""
    table = _parents() if parents is None else parents
    children: dict[int, list[int]] = {}
    for pid, parent in table.items():
        children.setdefault(parent, []).append(pid)
    found: list[int] = []
    stack = list(children.get(root, ()))
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def stop_run(marker: str) -> int:
    """SIGKILL the run whose environment holds ``marker`` and all its descendants.

    Returns how many processes were signalled.
    """
    me = os.getpid()
    table = _parents()
    roots = [pid for pid, parent in table.items() if parent == me and _has_marker(pid, marker)]
    victims = [pid for root in roots for pid in (root, *descendants(root, table))]
    own_group = os.getpgid(0)
    groups: set[int] = set()
    for pid in victims:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(pid))
    groups.discard(own_group)
    for group in groups:
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
    for pid in victims:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    return len(victims)


def _has_marker(pid: int, marker: str) -> bool:
    try:
        environ = (_PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return False
    return marker.encode() in environ.split(b"\0")
