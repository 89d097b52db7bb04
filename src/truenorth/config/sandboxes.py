"""The sandbox settings: the controller's ``sandbox`` mode, ``[limits]``, and each repository's allowances.

``sandbox = "required" | "auto" | "off"`` (``TRUENORTH_SANDBOX``; default ``auto``) says
whether engine programs run in bubblewrap (:mod:`truenorth.engines.sandbox`).
``[limits]`` bounds each engine program: ``cpu`` (a duration of CPU time), ``memory``
and ``output`` (sizes: ``4GiB``, ``128MiB``, ``512KiB`` or a number of bytes), ``tmp``
(the size of its private ``/tmp``); ``cpu = "off"`` or ``memory = "off"`` lifts one.
Each ``[[repositories]]`` entry may allow its programs more::

    deny_network_for_plans = true          # plans and drift checks run without a network
    trust_ansible_cfg = true               # Ansible reads the repository's ansible.cfg
    allow_inventory_scripts = true         # executable inventories, inventory plugins
    sandbox_read_only = ["/etc/truenorth/ssh/id_ed25519", "/etc/truenorth/ssh/known_hosts"]
    sandbox_writable = ["/srv/app"]        # written by applies only (plans read it)

The local commands (``truenorth plan``, ``apply``...) read no configuration file: the
same settings come from ``TRUENORTH_SANDBOX``, ``TRUENORTH_LIMIT_CPU``,
``TRUENORTH_LIMIT_MEMORY``, ``TRUENORTH_LIMIT_OUTPUT``, ``TRUENORTH_LIMIT_TMP``, and for
the repository the command works on ``TRUENORTH_DENY_NETWORK_FOR_PLANS``,
``TRUENORTH_TRUST_ANSIBLE_CFG``, ``TRUENORTH_ALLOW_INVENTORY_SCRIPTS`` (``true`` or
``false``), ``TRUENORTH_SANDBOX_READ_ONLY`` and ``TRUENORTH_SANDBOX_WRITABLE`` (absolute
paths separated by ``:``) (:func:`from_environment`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from truenorth.config import settings, values
from truenorth.engines import sandbox

__all__ = ["REPOSITORY_KEYS", "from_environment", "limits", "mode", "repository_policy", "size"]

#: The keys a ``[[repositories]]`` entry may hold about its sandbox.
REPOSITORY_KEYS = (
    "deny_network_for_plans",
    "trust_ansible_cfg",
    "allow_inventory_scripts",
    "sandbox_read_only",
    "sandbox_writable",
)
_LIMIT_KEYS = ("cpu", "memory", "output", "tmp")
_SIZE = re.compile(r"^([0-9]{1,15})[ \t]*(B|KiB|MiB|GiB|TiB)?$")
_UNITS = {None: 0, "B": 0, "KiB": 10, "MiB": 20, "GiB": 30, "TiB": 40}
_OFF = "off"
_MAX_PATHS = 64


def mode(value: Any, where: str = "sandbox") -> sandbox.Mode:
    """``required``, ``auto`` or ``off``."""
    try:
        return sandbox.Mode(values.text(value, where))
    except ValueError:
        raise settings.ConfigError(f'{where}: must be "required", "auto" or "off"') from None


def size(value: Any, where: str) -> int:
    """A size in bytes from ``"128MiB"``-style text or a whole number of bytes (at least 1 KiB)."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        match = _SIZE.match(values.text(value, where).strip())
        if match is None:
            raise settings.ConfigError(f"{where}: must be a size such as 512MiB, 4GiB or a number of bytes")
        number = int(match.group(1)) << _UNITS[match.group(2)]
    if not 1024 <= number <= 1 << 50:
        raise settings.ConfigError(f"{where}: must be between 1KiB and 1PiB")
    return number


def limits(raw: Mapping[str, Any], env: Mapping[str, str]) -> sandbox.Limits:
    """The ``[limits]`` table, each value overridden by ``TRUENORTH_LIMIT_<KEY>``."""
    table = values.table(raw, "limits")
    values.known(table, _LIMIT_KEYS, "limits")
    given = {key: env.get(f"TRUENORTH_LIMIT_{key.upper()}") or table.get(key) for key in _LIMIT_KEYS}
    default = sandbox.Limits()
    cpu = given["cpu"]
    memory = given["memory"]
    return sandbox.Limits(
        cpu_seconds=default.cpu_seconds
        if cpu is None
        else None
        if cpu == _OFF
        else max(1, round(values.duration(cpu, "limits.cpu"))),
        memory_bytes=default.memory_bytes
        if memory is None
        else None
        if memory == _OFF
        else size(memory, "limits.memory"),
        output_bytes=default.output_bytes
        if given["output"] is None
        else size(given["output"], "limits.output"),
        tmp_bytes=default.tmp_bytes if given["tmp"] is None else size(given["tmp"], "limits.tmp"),
    )


def repository_policy(item: Mapping[str, Any], where: str) -> sandbox.Policy:
    """What a ``[[repositories]]`` entry allows its programs (its mode is the controller's)."""
    return sandbox.Policy(
        plan_network=not values.switch(
            item.get("deny_network_for_plans", False), f"{where}.deny_network_for_plans"
        ),
        trust_ansible_cfg=values.switch(item.get("trust_ansible_cfg", False), f"{where}.trust_ansible_cfg"),
        allow_inventory_scripts=values.switch(
            item.get("allow_inventory_scripts", False), f"{where}.allow_inventory_scripts"
        ),
        read_only=_paths(item.get("sandbox_read_only", []), f"{where}.sandbox_read_only"),
        writable=_paths(item.get("sandbox_writable", []), f"{where}.sandbox_writable"),
    )


def from_environment(env: Mapping[str, str]) -> tuple[sandbox.Policy, sandbox.Limits]:
    """The sandbox policy and limits of a local command, from ``TRUENORTH_*`` variables."""
    chosen = mode(env.get("TRUENORTH_SANDBOX") or "auto", "TRUENORTH_SANDBOX")
    switches = {
        key: _env_switch(env, f"TRUENORTH_{key.upper()}")
        for key in ("deny_network_for_plans", "trust_ansible_cfg", "allow_inventory_scripts")
    }
    policy = sandbox.Policy(
        mode=chosen,
        plan_network=not switches["deny_network_for_plans"],
        trust_ansible_cfg=switches["trust_ansible_cfg"],
        allow_inventory_scripts=switches["allow_inventory_scripts"],
        read_only=_paths(_env_list(env, "TRUENORTH_SANDBOX_READ_ONLY"), "TRUENORTH_SANDBOX_READ_ONLY"),
        writable=_paths(_env_list(env, "TRUENORTH_SANDBOX_WRITABLE"), "TRUENORTH_SANDBOX_WRITABLE"),
    )
    return policy, limits({}, env)


def _paths(value: Any, where: str) -> tuple[Path, ...]:
    if not isinstance(value, list) or len(value) > _MAX_PATHS:
        raise settings.ConfigError(f"{where}: must be a list of at most {_MAX_PATHS} absolute paths")
    found: list[Path] = []
    for index, item in enumerate(value):
        text = values.text(item, f"{where}[{index}]")
        if not text.startswith("/") or "\0" in text or any(part == ".." for part in text.split("/")):
            raise settings.ConfigError(f"{where}[{index}]: must be an absolute path without '..'")
        if text.rstrip("/") == "":
            raise settings.ConfigError(f"{where}[{index}]: the whole file system cannot be allowed")
        found.append(Path(text))
    return tuple(found)


def _env_switch(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise settings.ConfigError(f"{name}: must be true or false")


def _env_list(env: Mapping[str, str], name: str) -> list[str]:
    return [item for item in env.get(name, "").split(":") if item]
