"""What an Ansible run may take from the repository, and the sandbox it runs in.

A check run is planned, never approved, and still runs code: Ansible reads
``ansible.cfg`` from its working folder (the stack's), and that file may name a vault
password *script*, callback, connection, lookup and module paths; an inventory may be an
executable script or an inventory plugin's configuration. So, unless the operator allows
it per repository (:class:`~truenorth.engines.sandbox.Policy`):

* the repository's ``ansible.cfg`` is ignored: Ansible reads truenorth's own, empty,
  configuration (``ANSIBLE_CONFIG``), and the run's log says so
  (``trust_ansible_cfg = true`` to use it, and what it names);
* an inventory is data, INI or YAML: an executable inventory file (or one in an
  inventory folder) and a YAML/JSON inventory that names a ``plugin:`` are refused with
  the reason before anything runs, and only Ansible's ``ini``, ``yaml`` and
  ``host_list`` inventory plugins are enabled (``allow_inventory_scripts = true`` to
  allow them).

What still runs repository code in check mode (lookups and filters of the playbook, the
plugins and modules in folders next to it such as ``library/``, ``filter_plugins/``,
``lookup_plugins/``, roles' own, tasks that run in check mode anyway or are delegated
to ``localhost``) runs inside the sandbox (:func:`sandbox`): the snapshot read-only, the
run's private folder writable, Python and Ansible read-only, nothing else of the
controller's machine but the paths the operator allowed.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from pathlib import Path

from truenorth.engines import protocol
from truenorth.engines import sandbox as sandboxing

__all__ = ["CONFIG_FILE", "check_inventory", "environment", "ignored_config_note", "sandbox"]

#: The file Ansible reads its configuration from in its working folder.
CONFIG_FILE = "ansible.cfg"
#: Inventory plugins that read data only (no code from the repository).
_DATA_INVENTORY_PLUGINS = "host_list,ini,yaml"
#: A YAML or JSON inventory that is an inventory plugin's configuration: a top-level ``plugin`` key.
#: (Linear time: each alternative starts differently and no two quantifiers meet.)
_PLUGIN_KEY = re.compile(r'^(?:plugin|[ \t]*"plugin"|\{[ \t]*"plugin")[ \t]*:', re.MULTILINE)
_VARS_FOLDERS = frozenset({"group_vars", "host_vars"})
#: Bytes of an inventory file looked at for a ``plugin:`` key.
_SCAN_BYTES = 1 << 20


def check_inventory(inventory: Path | None, *, stack_dir: Path, policy: sandboxing.Policy) -> None:
    """Refuse an executable inventory or an inventory plugin, unless the repository may use them.

    ``inventory`` is the resolved inventory file or folder (inside ``stack_dir``).
    """
    if inventory is None or policy.allow_inventory_scripts:
        return
    files = [inventory] if inventory.is_file() else _inventory_files(inventory)
    for path in files:
        shown = path.relative_to(stack_dir).as_posix() if path.is_relative_to(stack_dir) else path.name
        if _executable(path):
            raise protocol.EngineError(
                f"inventory {shown!r} is executable: an inventory script runs repository code on every "
                "plan, so truenorth reads inventories as data (INI or YAML) only; make it a plain file, "
                "or let the operator set allow_inventory_scripts = true for this repository"
            )
        if path.suffix in (".yml", ".yaml", ".json") and _names_plugin(path):
            raise protocol.EngineError(
                f"inventory {shown!r} configures an inventory plugin (plugin:), which runs code on "
                "every plan; truenorth reads inventories as data (INI or YAML) only, unless the "
                "operator sets allow_inventory_scripts = true for this repository"
            )


def ignored_config_note(stack_dir: Path, *, policy: sandboxing.Policy) -> str | None:
    """The line the run's log gets when the repository's ``ansible.cfg`` is ignored; else None."""
    if policy.trust_ansible_cfg or not (stack_dir / CONFIG_FILE).exists():
        return None
    return (
        f"truenorth: the repository's {CONFIG_FILE} is ignored (with the vault password file, "
        "plugin and module paths it names): the operator has not set trust_ansible_cfg = true "
        "for this repository"
    )


def environment(private: Path, *, policy: sandboxing.Policy, inventory: bool) -> dict[str, str]:
    """What the run's environment says about the repository's configuration and inventories.

    ``inventory``: the stack names one (which must then parse; without one, Ansible's
    implicit ``localhost`` is all there is).
    """
    env: dict[str, str] = {}
    if not policy.trust_ansible_cfg:
        own = private / CONFIG_FILE
        if not own.exists():
            fd = os.open(own, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(
                    "# truenorth's own Ansible configuration: the repository's is ignored\n[defaults]\n"
                )
        env["ANSIBLE_CONFIG"] = str(own)
    if not policy.allow_inventory_scripts:
        env["ANSIBLE_INVENTORY_ENABLED"] = _DATA_INVENTORY_PLUGINS
        if inventory:
            env["ANSIBLE_INVENTORY_UNPARSED_FAILED"] = "True"
    return env


def sandbox(
    policy: sandboxing.Policy,
    *,
    checkout: Path,
    private: Path,
    check: bool,
    runtime: tuple[Path, ...],
) -> sandboxing.Sandbox | None:
    """The sandbox of one ansible-playbook run; None when the controller runs it unconfined.

    ``private`` (the run's own folder: ansible-runner's data, local temp, control
    sockets, the vault password file) is writable and holds ``HOME``; the snapshot,
    Python, Ansible and ``runtime`` (truenorth's callback plugins) are read-only. A real
    run (``check`` False) may write the operator's writable paths for this repository
    (the folders a ``connection: local`` play manages); a check run only reads them.
    Raises :class:`~truenorth.engines.protocol.EngineError` when the sandbox is required
    and bubblewrap does not work here.
    """
    home = private / "home"
    try:
        found = sandboxing.confine(
            policy,
            read_only=(checkout, *python_paths(), *runtime),
            writable=(private,),
            applying=not check,
            home=home,
        )
    except sandboxing.SandboxUnavailable as exc:
        raise protocol.EngineError(str(exc)) from None
    if found is None:
        return None
    home.mkdir(mode=0o700, exist_ok=True)
    return found.with_lifetime(sandboxing.Lifetime.DIE_WITH_PARENT)


def python_paths() -> tuple[Path, ...]:
    """Where this interpreter, its standard library and its packages (Ansible's) live."""
    found: list[Path] = []
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}:
        found.append(Path(prefix))
    executable = Path(sys.executable)
    found += [executable.parent, Path(os.path.realpath(executable)).parent]
    return tuple(sorted(set(found)))


def _inventory_files(folder: Path) -> list[Path]:
    """The files of an inventory folder that Ansible may read as inventories (vars folders aside)."""
    found: list[Path] = []
    for directory, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(name for name in dirnames if name not in _VARS_FOLDERS)
        found.extend(Path(directory, name) for name in sorted(filenames))
    return found


def _executable(path: Path) -> bool:
    try:
        mode = path.lstat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and bool(mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH))


def _names_plugin(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(_SCAN_BYTES).decode("utf-8", "replace")
    except OSError:
        return False
    return _PLUGIN_KEY.search(head) is not None
