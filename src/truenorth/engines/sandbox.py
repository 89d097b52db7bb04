"""Confining an engine program with bubblewrap: what it sees, what it may write, its network.

Planning runs repository code: a Terraform plan evaluates ``file()`` and data sources,
an Ansible check run executes lookups and inventory scripts, Kustomize reads files. So
every engine program runs inside a ``bwrap`` sandbox built here (pure argv building,
plus a cached probe that bubblewrap works on this machine):

* a new root holding only the system (``/usr`` and the ``/bin``, ``/lib*`` links, the
  few ``/etc`` files DNS, TLS and user lookups need), a fresh ``/proc`` of a new PID
  namespace (no other process is visible, the controller's environment included), a
  minimal ``/dev`` and a private ``/tmp`` of bounded size; the root itself read-only;
* the paths the engine names (:class:`Sandbox`): read-only ones (the stack's snapshot,
  a declared dependency's state) and writable ones (this stack's own engine state, the
  run's private work folder), each at its real path. Nothing else of the data dir
  exists inside: not the database, the mirrors, other stacks' state, other runs or the
  controller's configuration;
* no capabilities (``--cap-drop ALL``, even when the controller runs as root), no new
  privileges, a new session (no terminal to inject into), new IPC and UTS namespaces,
  and no network when the repository denies it for plans (``--unshare-net``).

Signals and crash safety (see ``engines/processes.py``): the program itself is PID 1 of
the sandbox (``--as-pid-1``), in a session and process group of its own: when it ends,
the kernel kills whatever it left behind in the namespace. Interrupting it means
signalling that process group (its pid as this side sees it comes from bwrap's
``--info-fd``), never bwrap itself, which only waits for it and reports its status: the
program and the processes of its group get each signal once, as from a terminal. (A
PID 1 gets only the signals it handles: Terraform and Python handle SIGINT; a program
that handles neither SIGINT nor SIGTERM is killed after the grace periods.) A program
that is interrupted when its starter dies gets util-linux ``setpriv --pdeathsig INT``
inside the sandbox too: bwrap dies with the controller, and the program, whose parent
bwrap is, is then interrupted as Ctrl-C would. A program that must finish alone
(``terraform apply``) does not: bwrap lives on until it has ended. Ansible, which
ansible-runner starts on a pseudo-terminal, gets ``--die-with-parent`` instead
(:attr:`Lifetime.DIE_WITH_PARENT`): it is killed with the controller, as it was before.

``sandbox = "required" | "auto" | "off"`` (:class:`Mode`) is the controller's choice:
``auto`` (the default) confines wherever :func:`probe` says bubblewrap works and says
loudly, once, where it does not.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import logging
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "BWRAP",
    "Lifetime",
    "Limits",
    "Mode",
    "Policy",
    "Sandbox",
    "SandboxUnavailable",
    "Support",
    "command",
    "confine",
    "describe",
    "limit_options",
    "probe",
    "resolve_mode",
]

log = logging.getLogger(__name__)

#: The bubblewrap program (Debian's ``bubblewrap`` package).
BWRAP = "bwrap"

#: Folders of the system every program needs, bound read-only at the same place.
_SYSTEM_FOLDERS = ("/usr",)
#: Top-level names that are links into /usr on a merged-/usr system, folders otherwise.
_SYSTEM_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
#: What of /etc a program may need: names, addresses, TLS roots, users, time zone, linker.
_ETC = (
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/host.conf",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/services",
    "/etc/protocols",
    "/etc/passwd",
    "/etc/group",
    "/etc/localtime",
    "/etc/timezone",
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/ca-certificates.conf",
    "/etc/pki",
    "/etc/crypto-policies",
    "/etc/ssh/ssh_config",
    "/etc/ssh/ssh_config.d",
    "/etc/mime.types",
)
_PROBE_TIMEOUT = 20.0


class Mode(enum.StrEnum):
    """The controller setting ``sandbox``."""

    #: Every engine program is sandboxed; a machine where bubblewrap does not work runs none.
    REQUIRED = "required"
    #: Sandboxed where bubblewrap works; elsewhere unconfined, said loudly.
    AUTO = "auto"
    #: Never sandboxed (the operator's explicit choice).
    OFF = "off"


class Lifetime(enum.Enum):
    """What happens to a sandboxed program when the process that started it dies."""

    #: Interrupted (SIGINT) as Ctrl-C would: plans, ``show``, ``init``, ``kubectl kustomize``.
    INTERRUPT = "interrupt"
    #: Runs to its end by itself (``terraform apply``).
    FINISH_ALONE = "finish-alone"
    #: Killed (SIGKILL), sandbox and all (Ansible under ansible-runner's pseudo-terminal).
    DIE_WITH_PARENT = "die-with-parent"


class SandboxUnavailable(RuntimeError):  # noqa: N818 (a condition, like ProgramMissing)
    """``sandbox = "required"`` on a machine where bubblewrap does not work."""


@dataclass(frozen=True)
class Limits:
    """Per program: CPU seconds and memory (``RLIMIT_CPU``, ``RLIMIT_DATA``), output kept, ``/tmp``.

    ``None`` switches a limit off. Output past ``output_bytes`` (per stream) is cut with a
    marker and the program stopped; ``tmp_bytes`` bounds the sandbox's ``/tmp``.
    """

    cpu_seconds: int | None = 3600
    memory_bytes: int | None = 4 << 30
    output_bytes: int = 128 << 20
    tmp_bytes: int = 1 << 30


@dataclass(frozen=True)
class Policy:
    """How a stack's engine programs are confined: the controller's mode, the repository's allowances.

    ``plan_network`` False (the repository's ``deny_network_for_plans``) runs plans and
    drift checks without a network. ``trust_ansible_cfg`` lets Ansible read the
    repository's ``ansible.cfg`` (and the vault password file, plugin and module paths
    it names); ``allow_inventory_scripts`` lets it run executable inventories and
    inventory plugins. ``read_only`` and ``writable`` are host paths the operator lets
    this repository's programs see (SSH keys, ``known_hosts``) or change (the folders a
    ``connection: local`` play manages; writable for applies only, read-only for plans).
    """

    mode: Mode = Mode.AUTO
    plan_network: bool = True
    trust_ansible_cfg: bool = False
    allow_inventory_scripts: bool = False
    read_only: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Sandbox:
    """What one sandboxed program sees: paths bound at their real place, and its network.

    ``read_only`` and ``writable`` name host paths (files or folders) that must exist to
    be bound (a missing one is left out). A path inside another bound path is bound
    over it, so a read-only file may sit in a writable folder and the other way round.
    ``environment`` is merged over the program's environment (``HOME``, ``TMPDIR``).
    """

    read_only: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()
    network: bool = True
    environment: tuple[tuple[str, str], ...] = (("TMPDIR", "/tmp"),)
    lifetime: Lifetime = Lifetime.INTERRUPT
    #: Bound read-only besides (the program's own files, an interpreter's prefix).
    runtime: tuple[Path, ...] = field(default=())
    #: Folders that start empty and private to the program (a tmpfs): the user's home
    #: folder, where tools write whatever ``HOME`` says (Ansible's ``~user/.ansible``).
    scratch: tuple[Path, ...] = field(default=())

    def with_lifetime(self, lifetime: Lifetime) -> Sandbox:
        """This sandbox with another :class:`Lifetime`."""
        return dataclasses.replace(self, lifetime=lifetime)


@dataclass(frozen=True)
class Support:
    """Whether bubblewrap works here: the program, its version, or why not."""

    works: bool
    bwrap: str | None = None
    version: str | None = None
    reason: str = ""
    #: util-linux ``setpriv`` with ``--pdeathsig``, as found (None: plans outlive a dead controller).
    setpriv: str | None = None


def resolve_mode(mode: Mode, support: Support | None = None) -> bool:
    """True when programs are to be sandboxed under ``mode``.

    Raises :class:`SandboxUnavailable` when ``mode`` is ``required`` and bubblewrap does
    not work here; ``auto`` logs a warning (once per process) and says False.
    """
    if mode is Mode.OFF:
        return False
    found = support or probe()
    if found.works:
        return True
    if mode is Mode.REQUIRED:
        raise SandboxUnavailable(
            f'sandbox = "required" but bubblewrap does not work here: {found.reason}; '
            'install bubblewrap (Debian: apt-get install bubblewrap) or set sandbox = "auto"'
        )
    _warn_unconfined(found.reason)
    return False


def confine(
    policy: Policy,
    *,
    read_only: Iterable[Path] = (),
    writable: Iterable[Path] = (),
    network: bool | None = None,
    applying: bool = False,
    home: Path | None = None,
) -> Sandbox | None:
    """The sandbox for one program of a stack under ``policy``; None when it runs unconfined.

    The policy's own paths join ``read_only``; its writable paths are writable only
    when ``applying`` (a plan only reads them), and are made (as folders) when missing. The network is there for an apply, and
    for a plan unless the repository denies it; ``network`` True or False decides
    instead. ``home``, if given, becomes ``HOME`` (it should be one of the writable
    paths; default ``/tmp``). Raises :class:`SandboxUnavailable` (see :func:`resolve_mode`).
    """
    if not resolve_mode(policy.mode):
        return None
    ours_writable = tuple(policy.writable) if applying else ()
    for folder in ours_writable:
        # A missing folder would not be bound, and what the program wrote there would go
        # to the sandbox's own /tmp (or fail on its read-only root): make it first.
        if not folder.exists() and not folder.is_symlink():
            folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    ours_read_only = tuple(policy.read_only) + (() if applying else tuple(policy.writable))
    environment: list[tuple[str, str]] = [("TMPDIR", "/tmp")]
    environment.append(("HOME", str(home) if home is not None else "/tmp"))
    return Sandbox(
        read_only=(*read_only, *ours_read_only),
        writable=(*writable, *ours_writable),
        network=(applying or policy.plan_network) if network is None else network,
        environment=tuple(environment),
        scratch=_user_home(),
    )


def describe(sandboxed: bool, mode: Mode) -> str:
    """What a run records about its confinement (``meta["sandbox"]``)."""
    if sandboxed:
        return "bubblewrap"
    if mode is Mode.OFF:
        return "off"
    return f"unavailable: {probe().reason}"


def command(
    spec: Sandbox,
    argv: Sequence[str],
    *,
    cwd: Path,
    limits: Limits | None = None,
    info_fd: int | None = None,
    support: Support | None = None,
) -> list[str]:
    """The whole argv running ``argv`` (program already resolved to a path) inside ``spec``.

    ``info_fd`` is passed to bwrap's ``--info-fd`` (it writes ``{"child-pid": N}`` there:
    the program's process group to signal). ``limits`` become ``prlimit`` options in
    front of the program. Pure but for reading the host's root (which system folders
    are links).
    """
    found = support or probe()
    bwrap = found.bwrap or BWRAP
    out = [
        bwrap,
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--new-session",
        "--as-pid-1",
        "--cap-drop",
        "ALL",
    ]
    if not spec.network:
        out.append("--unshare-net")
    if spec.lifetime is Lifetime.DIE_WITH_PARENT:
        out.append("--die-with-parent")
    if info_fd is not None:
        out += ["--info-fd", str(info_fd)]
    out += _system_binds()
    size = limits.tmp_bytes if limits is not None else Limits().tmp_bytes
    out += ["--proc", "/proc", "--dev", "/dev", "--size", str(size), "--tmpfs", "/tmp"]
    program = Path(argv[0])
    runtime = [*spec.runtime, *_program_files(program)]
    out += _binds(
        read_only=[*spec.read_only, *runtime], writable=spec.writable, scratch=spec.scratch, size=size
    )
    out += ["--remount-ro", "/", "--chdir", str(cwd), "--"]
    if spec.lifetime is Lifetime.INTERRUPT and found.setpriv:
        out += [found.setpriv, "--pdeathsig", "INT", "--"]
    out += limit_options(limits)
    out += list(argv)
    return out


def limit_options(limits: Limits | None) -> list[str]:
    """``prlimit`` in front of a program: its CPU-time and memory limits (none: nothing)."""
    if limits is None or (limits.cpu_seconds is None and limits.memory_bytes is None):
        return []
    prlimit = _prlimit()
    if prlimit is None:
        return []
    options = [prlimit]
    if limits.cpu_seconds is not None:
        # SIGXCPU at the soft limit; SIGKILL 5 s later if the program ignores it.
        options.append(f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 5}")
    if limits.memory_bytes is not None:
        options.append(f"--data={limits.memory_bytes}")
    return [*options, "--"]


@functools.cache
def _prlimit() -> str | None:
    found = shutil.which("prlimit") or next(
        (path for path in ("/usr/bin/prlimit", "/bin/prlimit") if os.access(path, os.X_OK)), None
    )
    if found is None:
        log.warning("util-linux prlimit not found: engine programs run without CPU-time and memory limits")
    return found


@functools.cache
def probe() -> Support:
    """Whether bubblewrap works on this machine (tried once per process, then remembered).

    Runs ``/usr/bin/true`` through the same sandbox every engine program gets.
    """
    bwrap = shutil.which(BWRAP) or next(
        (path for path in ("/usr/bin/bwrap", "/bin/bwrap") if os.access(path, os.X_OK)), None
    )
    if bwrap is None:
        return Support(works=False, reason="bwrap is not installed (Debian package bubblewrap)")
    version = _version(bwrap)
    candidate = Support(works=True, bwrap=bwrap, version=version, setpriv=_setpriv())
    true = shutil.which("true") or "/usr/bin/true"
    argv = command(Sandbox(), [true], cwd=Path("/"), support=candidate)
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            timeout=_PROBE_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
            env={"PATH": "/usr/bin:/bin"},
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return Support(works=False, bwrap=bwrap, version=version, reason=f"{bwrap} cannot be run: {exc}")
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = said[-1][:300] if said else f"exit code {done.returncode}"
        return Support(works=False, bwrap=bwrap, version=version, reason=f"bwrap fails here: {reason}")
    return candidate


def _version(bwrap: str) -> str | None:
    try:
        done = subprocess.run(
            [bwrap, "--version"], capture_output=True, timeout=10, check=False, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.SubprocessError):
        return None
    words = done.stdout.decode("utf-8", "replace").split()
    return words[-1] if words else None


@functools.cache
def find_setpriv() -> str | None:
    """util-linux ``setpriv`` if it is installed and knows ``--pdeathsig`` (2.33 and later).

    The one finder both uses share: :mod:`.processes` starts unsandboxed programs
    through it, and the sandbox starts plans through it inside bwrap.
    """
    found = shutil.which("setpriv") or next(
        (path for path in ("/usr/bin/setpriv", "/bin/setpriv") if os.access(path, os.X_OK)), None
    )
    if found is None:
        log.warning("util-linux setpriv not found: engine programs outlive a killed controller")
        return None
    try:
        usage = subprocess.run(
            [found, "--help"], capture_output=True, timeout=10, check=False, stdin=subprocess.DEVNULL
        ).stdout
    except (OSError, subprocess.SubprocessError):
        usage = b""
    if b"--pdeathsig" not in usage:
        log.warning(
            "%s has no --pdeathsig (util-linux < 2.33): engine programs outlive a killed controller", found
        )
        return None
    return found


def _setpriv() -> str | None:
    """:func:`find_setpriv`, when it sits where the sandbox sees it."""
    found = find_setpriv()
    return found if found is not None and _visible_inside(Path(found)) else None


_warned: set[str] = set()


def _warn_unconfined(reason: str) -> None:
    if reason in _warned:
        return
    _warned.add(reason)
    log.warning(
        'SANDBOX OFF: sandbox = "auto" and bubblewrap does not work here (%s): engine programs run '
        "repository code UNCONFINED, with the controller's view of this machine. Install bubblewrap, "
        'or set sandbox = "required" to refuse to run them unconfined.',
        reason,
    )


def _system_binds() -> list[str]:
    out: list[str] = []
    for folder in _SYSTEM_FOLDERS:
        out += ["--ro-bind", folder, folder]
    for name in _SYSTEM_LINKS:
        path = Path(name)
        if path.is_symlink():
            out += ["--symlink", os.readlink(path), name]
        elif path.is_dir():
            out += ["--ro-bind", name, name]
    for name in _ETC:
        out += ["--ro-bind-try", name, name]
    return out


def _visible_inside(path: Path) -> bool:
    """True when ``path`` lies under a folder every sandbox binds (``/usr``, ``/bin``...)."""
    text = str(path)
    roots = (*_SYSTEM_FOLDERS, *_SYSTEM_LINKS)
    return any(text == root or text.startswith(root + "/") for root in roots)


def _program_files(program: Path) -> list[Path]:
    """The program file and, when it is a link, the file it leads to (unless the system has them)."""
    if not program.is_absolute():
        return []
    found = [program]
    real = Path(os.path.realpath(program))
    if real != program:
        found.append(real)
    return [path for path in found if not _visible_inside(path)]


def _binds(
    *, read_only: Sequence[Path], writable: Sequence[Path], scratch: Sequence[Path] = (), size: int = 0
) -> list[str]:
    """bwrap mount options, shallowest first so that a deeper path is mounted over its parent.

    Each path is bound at its absolute place; a path that does not exist (an optional
    file, a state never written) is left out by ``--*-bind-try``. A path both read-only
    and writable is bound read-only. A scratch folder is a fresh tmpfs of ``size`` bytes.
    """
    wanted: dict[str, bool] = {}
    for path, is_writable in [*((p, False) for p in read_only), *((p, True) for p in writable)]:
        text = os.path.abspath(path)
        if text == "/" or (not is_writable and _visible_inside(Path(text))):
            continue
        wanted[text] = wanted.get(text, is_writable) and is_writable
    empty = {os.path.abspath(path) for path in scratch} - set(wanted) - {"/", "/tmp"}
    empty = {text for text in empty if not _visible_inside(Path(text))}
    out: list[str] = []
    for text in sorted([*wanted, *empty], key=lambda item: (item.count("/"), item)):
        if text in wanted:
            out += ["--bind-try" if wanted[text] else "--ro-bind-try", text, text]
        else:
            out += ["--size", str(size), "--tmpfs", text]
    return out


def _user_home() -> tuple[Path, ...]:
    """This user's home folder as the password database has it (what ``~user`` means)."""
    try:
        home = pwd.getpwuid(os.getuid()).pw_dir
    except (KeyError, OSError):
        return ()
    return (Path(home),) if home and home != "/" else ()
