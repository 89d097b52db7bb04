"""What import-linter cannot say: only two modules start processes, whatever function they use.

``pyproject.toml`` forbids importing ``subprocess`` (and ``pty``, ``pexpect``,
``multiprocessing``, ``ansible_runner``) outside ``engines/processes.py`` and
``git/commands.py`` (two named exceptions: the sandbox asks bubblewrap whether it works,
and ansible-runner starts ansible-playbook itself). Some ways to start a process are functions of modules everybody
imports (``os.system``, ``os.exec*``, ``os.spawn*``, ``os.fork``, ``os.posix_spawn``,
``asyncio.create_subprocess_exec``, an event loop's ``subprocess_exec``), which an
import contract cannot forbid; this test reads the source for them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import truenorth

SOURCE = Path(truenorth.__file__).parent
#: The two modules that may start processes (see docs/architecture.md).
SPAWNERS = {SOURCE / "engines" / "processes.py", SOURCE / "git" / "commands.py"}
_OS_FUNCTIONS = ("system", "popen", "fork", "forkpty", "posix_spawn", "posix_spawnp")
_OS_PREFIXES = ("exec", "spawn")
_ASYNCIO_FUNCTIONS = ("create_subprocess_exec", "create_subprocess_shell")
_LOOP_METHODS = ("subprocess_exec", "subprocess_shell")


def _spawns(name: str, owner: str | None) -> bool:
    if owner == "os":
        return name in _OS_FUNCTIONS or name.startswith(_OS_PREFIXES)
    if owner == "asyncio":
        return name in _ASYNCIO_FUNCTIONS
    return name in _LOOP_METHODS or name in _ASYNCIO_FUNCTIONS


def process_starts(source: str) -> list[str]:
    """``line: name`` for every way ``source`` could start a process without ``subprocess``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if _spawns(node.attr, owner):
                found.append(f"{node.lineno}: {owner or '<object>'}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module in ("os", "asyncio"):
            found += [f"{node.lineno}: from {node.module} import {alias.name}" for alias in node.names
                      if _spawns(alias.name, node.module)]  # fmt: skip
    return found


def test_the_scan_finds_every_way_to_start_a_process() -> None:
    source = (
        "import os, asyncio\nfrom os import execvp\n"
        "os.system('x')\nos.spawnlp(0, 'x')\nos.posix_spawn('x', [], {})\n"
        "asyncio.create_subprocess_exec('x')\nloop.subprocess_exec(f, 'x')\n"
        "os.getpid()\nos.kill(1, 9)\n"
    )
    assert process_starts(source) == [
        "2: from os import execvp",
        "3: os.system",
        "4: os.spawnlp",
        "5: os.posix_spawn",
        "6: asyncio.create_subprocess_exec",
        "7: loop.subprocess_exec",
    ]


def test_only_the_two_spawning_modules_start_processes() -> None:
    found = {
        str(path.relative_to(SOURCE)): starts
        for path in sorted(SOURCE.rglob("*.py"))
        if path not in SPAWNERS and (starts := process_starts(path.read_text(encoding="utf-8")))
    }
    assert found == {}
