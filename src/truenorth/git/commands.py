"""Running git: argv only, locked-down configuration, bounded time, redacted errors.

Every git process the adapter starts goes through :func:`run_git`. It never uses a
shell; it allows only the file, git, http, https and ssh transports, ignores the
system config and any hooks, never prompts for a password, runs in its own process
group so that a timeout kills git and its helpers (ssh, git-remote-https), and puts
only redacted stderr into the :class:`~truenorth.git.errors.GitError` it raises.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from truenorth.git import credentials, errors

__all__ = ["ALLOWED_PROTOCOLS", "DEFAULT_TIMEOUT", "GitOutput", "git_env", "run_git"]

#: Seconds a git command may run before it is killed.
DEFAULT_TIMEOUT = 120.0
#: The only transports git may use (``GIT_ALLOW_PROTOCOL``), submodules included.
ALLOWED_PROTOCOLS = "file:git:http:https:ssh"

# Always passed as ``-c`` options, ahead of the subcommand.
_CONFIG = (
    "protocol.ext.allow=never",
    "core.hooksPath=/dev/null",
    # Run automatic gc in the foreground: a detached gc would outlive the timeout and
    # the mirror lock.
    "gc.autoDetach=false",
    "log.showSignature=false",
)
# Variables that point git at some other repository or config; never inherited.
_REPOSITORY_VARIABLES = (
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_CONFIG",
    "GIT_CONFIG_COUNT",
    "GIT_CONFIG_PARAMETERS",
    "GIT_DIR",
    "GIT_GRAFT_FILE",
    "GIT_IMPLICIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_NAMESPACE",
    "GIT_NO_REPLACE_OBJECTS",
    "GIT_OBJECT_DIRECTORY",
    "GIT_PREFIX",
    "GIT_REPLACE_REF_BASE",
    "GIT_SHALLOW_FILE",
    "GIT_WORK_TREE",
)
_STDERR_TAIL = 2000
_KILL_GRACE = 5.0


@dataclass(frozen=True)
class GitOutput:
    """How a git command ended; ``stderr`` is already redacted."""

    returncode: int
    stdout: bytes
    stderr: str

    def text(self) -> str:
        """``stdout`` decoded as UTF-8 (undecodable bytes replaced)."""
        return self.stdout.decode("utf-8", errors="replace")


def git_env(cwd: Path) -> dict[str, str]:
    """The environment git runs with when started in ``cwd``.

    Repository discovery stops at ``cwd``: a cache placed inside someone's work tree
    never picks up that repository's config.
    """
    env = {key: value for key, value in os.environ.items() if key not in _REPOSITORY_VARIABLES}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ALLOW_PROTOCOL=ALLOWED_PROTOCOLS,
        GIT_CONFIG_NOSYSTEM="1",
        GIT_CEILING_DIRECTORIES=str(cwd.resolve().parent),
        GCM_INTERACTIVE="never",
    )
    return env


def run_git(
    args: Sequence[str],
    *,
    cwd: Path,
    timeout: float = DEFAULT_TIMEOUT,
    secrets: Iterable[str] = (),
    ok_codes: Collection[int] = (0,),
) -> GitOutput:
    """Run ``git <args>`` in ``cwd`` and return its output.

    Raises :class:`GitError` when git is missing, runs past ``timeout`` seconds (it
    is killed with its whole process group), or exits with a code not in
    ``ok_codes``. ``secrets`` are extra strings masked in stderr besides URL
    credentials.
    """
    argv = ["git", *(part for option in _CONFIG for part in ("-c", option)), *args]
    name = f"git {args[0]}" if args else "git"
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=git_env(cwd),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise errors.GitError("git is not installed or not on PATH") from exc
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise errors.GitError(f"{name} timed out after {timeout:g}s and was stopped") from None
    except BaseException:
        _kill_group(proc)
        raise
    message = _mask(stderr.decode("utf-8", errors="replace"), secrets)
    if proc.returncode not in ok_codes:
        tail = message.strip()[-_STDERR_TAIL:]
        raise errors.GitError(f"{name} failed (exit {proc.returncode})" + (f": {tail}" if tail else ""))
    return GitOutput(returncode=proc.returncode, stdout=stdout, stderr=message)


def _mask(text: str, secrets: Iterable[str]) -> str:
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret:
            text = text.replace(secret, credentials.MASK)
    return credentials.redact(text)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL git and everything it started, then reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    try:
        proc.communicate(timeout=_KILL_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
