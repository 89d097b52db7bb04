"""The files, environment and command lines truenorth gives Terraform.

Terraform is configured by truenorth and the operator, never by the repository: one CLI
configuration file, the operator's own (``TF_CLI_CONFIG_FILE`` or ``~/.terraformrc`` of the
controller: provider mirrors, credentials) merged with truenorth's plugin cache and no
checkpoint calls (:func:`cli_config`); a minimal explicit environment (``TF_TOKEN_*``
passed on); and argv lists built here. An ``init`` that cannot install a provider gets a
hint pointing at mirrors (:func:`provider_install_hint`). A stack that declares no
backend gets a local one in its private state dir through an extra file
(:data:`BACKEND_FILE`) in the working copy (with replicas, the ``pg`` backend of
:mod:`.pgstate` instead); a stack that declares one keeps it.

Backend detection is a documented, deliberately simple scan of the stack folder's own
``*.tf`` files (only the root module may declare a backend): inside a top-level
``terraform { ... }`` block (found by counting braces outside strings and comments), a
line that opens a ``backend "<type>" {`` or ``cloud {`` block counts; in ``*.tf.json``
a ``backend`` or ``cloud`` key under ``terraform`` counts. Both ways of getting it wrong
fail safe: the extra file is a normal file, not an override file, so a missed backend
makes Terraform stop with "Duplicate backend configuration" instead of silently moving
the state; and the engine checks after ``init`` that the state does not end up in the
throw-away working copy (:func:`truenorth.engines.terraform.states.backend_problem`).

A stack reads the local state of a stack it declares in ``depends_on`` at
``.truenorth/deps/<stack>/terraform.tfstate`` (:data:`.preparing.DEPENDENCIES_DIR`);
there is no variable naming the folder of every stack's state any more.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BACKEND_FILE",
    "PROVIDER_INSTALL_FAILURES",
    "OperatorConfig",
    "OperatorConfigError",
    "apply_argv",
    "backend_file",
    "cli_config",
    "declares_backend",
    "environment",
    "init_argv",
    "operator_cli_config",
    "output_argv",
    "plan_argv",
    "provider_install_hint",
    "show_argv",
    "state_pull_argv",
    "state_push_argv",
    "token_values",
    "var_argument",
    "version_argv",
    "workspace_argv",
]

_MAX_OPERATOR_CONFIG = 1024 * 1024
_TOKEN_VARIABLE = re.compile(r"TF_TOKEN_[A-Za-z0-9_-]{1,200}")
# `filesystem_mirror { ... }` (its body has no braces) and, inside, `path = "..."`.
_FILESYSTEM_MIRROR = re.compile(r"filesystem_mirror[ \t]*\{([^{}]*)\}")
_PATH_ATTRIBUTE = re.compile(r'^[ \t]*path[ \t]*=[ \t]*"([^"\n]*)"', re.MULTILINE)
# A `credentials "host" { token = "..." }` token (or any `token = "..."` attribute).
_TOKEN_ATTRIBUTE = re.compile(r'^[ \t]*token[ \t]*=[ \t]*"([^"\n]*)"', re.MULTILINE)

#: The file truenorth adds to a stack without a backend (in the working copy only).
BACKEND_FILE = "zz_truenorth_backend.tf.json"

# A top-level `terraform {` block opener.
_TERRAFORM_BLOCK = re.compile(r"^terraform[ \t]*\{", re.MULTILINE)
# Inside it, a line opening a backend or cloud block: `backend "s3" {` or `cloud {`.
# Attributes such as `backend = "local"` do not match (no block opener).
_BACKEND_BLOCK = re.compile(r'^[ \t]*(backend[ \t]*"[^"\n]*"|cloud)[ \t]*\{', re.MULTILINE)
# What the brace counter skips: strings, and comments of the three HCL kinds. Each
# alternative always matches once it starts (an unterminated string runs to the end of
# its line, an unterminated comment to the end of the text) and the string's loop is
# possessive, so no start is ever scanned twice: linear in the file's length (a file of
# `"\"\"\"...` or `/* /* /*` took quadratic time before).
_SKIPPED = re.compile(r'"(?:[^"\\\n]|\\.)*+"?|#[^\n]*|//[^\n]*|/\*.*?(?:\*/|\Z)', re.DOTALL)
_BRACE = re.compile(r"[{}]")
# Files larger than this are not scanned (HCL this large is not a root module's header).
_MAX_SCAN_BYTES = 8 * 1024 * 1024


def declares_backend(stack_dir: Path) -> bool:
    """True when the root module in ``stack_dir`` declares a backend or ``cloud`` block."""
    for path in sorted(stack_dir.iterdir()):
        if path.name == BACKEND_FILE or not path.is_file() or path.stat().st_size > _MAX_SCAN_BYTES:
            continue
        if path.name.endswith((".tf", ".tofu")):
            text = path.read_text(encoding="utf-8", errors="replace")
            if any(_BACKEND_BLOCK.search(body) for body in _terraform_blocks(text)):
                return True
        elif path.name.endswith((".tf.json", ".tofu.json")) and _json_declares_backend(path):
            return True
    return False


def backend_file(state_dir: Path) -> str:
    """The JSON text of a local backend keeping state (all workspaces) in ``state_dir``."""
    local = {
        "path": _literal(str(state_dir / "terraform.tfstate")),
        "workspace_dir": _literal(str(state_dir / "terraform.tfstate.d")),
    }
    return json.dumps({"terraform": {"backend": {"local": local}}}, indent=2) + "\n"


@dataclass(frozen=True)
class OperatorConfig:
    """The operator's own Terraform CLI configuration, as the controller's environment names it.

    ``TF_CLI_CONFIG_FILE``, else ``~/.terraformrc`` (of the controller's ``HOME``); empty
    when there is none. ``mirrors`` are its ``filesystem_mirror`` paths (the sandbox lets
    ``init`` read them), ``secrets`` the ``token`` values of its ``credentials`` blocks
    (registered with the run's redactor). Kept out of ``repr``: it may hold tokens.
    """

    text: str = field(default="", repr=False)
    path: Path | None = None
    mirrors: tuple[Path, ...] = ()
    secrets: tuple[str, ...] = field(default=(), repr=False)


class OperatorConfigError(ValueError):
    """The operator's CLI configuration file cannot be used (unreadable, too large, bad JSON)."""


def operator_cli_config(base: Mapping[str, str] | None = None) -> OperatorConfig:
    """Read the operator's Terraform CLI configuration (see :class:`OperatorConfig`).

    A file that does not exist is no configuration (Terraform only warns about it);
    one that cannot be read or is larger than 1 MiB raises :class:`OperatorConfigError`.
    """
    source = os.environ if base is None else base
    named = source.get("TF_CLI_CONFIG_FILE", "")
    home = source.get("HOME", "")
    path = Path(named) if named else (Path(home) / ".terraformrc" if home else None)
    if path is None or not path.is_file():
        return OperatorConfig()
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_OPERATOR_CONFIG + 1)
    except OSError as exc:
        raise OperatorConfigError(f"Terraform CLI configuration {path}: {exc.strerror or exc}") from None
    if len(raw) > _MAX_OPERATOR_CONFIG:
        raise OperatorConfigError(f"Terraform CLI configuration {path}: larger than 1 MiB")
    text = raw.decode("utf-8", errors="replace")
    mirrors = tuple(
        Path(found.group(1))
        for block in _FILESYSTEM_MIRROR.finditer(text)
        for found in [_PATH_ATTRIBUTE.search(block.group(1))]
        if found is not None and found.group(1).startswith("/")
    )
    secrets = tuple(match.group(1) for match in _TOKEN_ATTRIBUTE.finditer(text) if match.group(1))
    return OperatorConfig(text=text, path=path, mirrors=mirrors, secrets=secrets)


def cli_config(plugin_cache_dir: Path, operator: OperatorConfig | None = None) -> str:
    """The text of the Terraform CLI configuration file every command runs with.

    The operator's configuration (``provider_installation`` with mirrors, ``credentials``,
    ``credentials_helper``, ``host``...) merged with what truenorth needs: the shared
    plugin cache and no checkpoint calls, which win (set last; ``TF_PLUGIN_CACHE_DIR``
    says the same). A JSON configuration stays JSON.
    """
    ours = {"plugin_cache_dir": str(plugin_cache_dir), "disable_checkpoint": True}
    text = operator.text if operator is not None else ""
    if text.lstrip().startswith("{"):
        try:
            merged = json.loads(text)
        except ValueError:
            raise OperatorConfigError(
                f"Terraform CLI configuration {operator.path if operator else ''}: not valid JSON"
            ) from None
        if isinstance(merged, dict):
            return json.dumps({**merged, **ours}, indent=2) + "\n"
    head = f"# From {operator.path}:\n{text.rstrip()}\n\n# truenorth:\n" if text.strip() and operator else ""
    return head + f"plugin_cache_dir = {json.dumps(str(plugin_cache_dir))}\ndisable_checkpoint = true\n"


#: Terraform's words when ``init`` cannot get a provider (registry unreachable, a mirror
#: without it). Plain substrings: matched in linear time.
PROVIDER_INSTALL_FAILURES = (
    "Failed to query available provider packages",
    "Failed to install provider",
    "could not connect to registry",
    "Failed to retrieve available versions",
    "was not found in any of the search locations",
)


def provider_install_hint(stderr: str) -> str:
    """A hint for an ``init`` that could not install a provider, or "" for any other failure."""
    if not any(words in stderr for words in PROVIDER_INSTALL_FAILURES):
        return ""
    return (
        "a provider could not be installed: the registry is not reachable from here, or a "
        "configured mirror does not hold it. Offline or air-gapped, give Terraform a "
        "provider_installation block with a filesystem_mirror or network_mirror in its CLI "
        "configuration (TF_CLI_CONFIG_FILE or ~/.terraformrc of the controller; truenorth merges it); "
        'see docs/configuration.md, "Terraform offline / air-gapped"'
    )


def environment(
    *,
    cli_config_file: Path,
    data_dir: Path,
    plugin_cache_dir: Path,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The whole environment Terraform runs with: nothing inherited but PATH and HOME."""
    source = os.environ if base is None else base
    env = {
        "PATH": source.get("PATH", os.defpath),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "TF_CLI_CONFIG_FILE": str(cli_config_file),
        "TF_DATA_DIR": str(data_dir),
        "TF_PLUGIN_CACHE_DIR": str(plugin_cache_dir),
        "CHECKPOINT_DISABLE": "1",
    }
    home = source.get("HOME")
    env["HOME"] = home if home else str(data_dir)
    # Registry and module host tokens (`TF_TOKEN_app_terraform_io`): a private registry.
    env.update({name: value for name, value in source.items() if _TOKEN_VARIABLE.fullmatch(name)})
    return env


def token_values(env: Mapping[str, str]) -> tuple[str, ...]:
    """The values of the ``TF_TOKEN_*`` variables of ``env`` (secrets for the redactor)."""
    return tuple(value for name, value in env.items() if _TOKEN_VARIABLE.fullmatch(name) and value)


def var_argument(name: str, value: Any) -> str:
    """``-var=name=value``; values that are not strings are JSON-encoded (valid HCL)."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return f"-var={name}={text}"


def version_argv(binary: str) -> list[str]:
    return [binary, "version", "-json"]


def init_argv(binary: str) -> list[str]:
    return [binary, "init", "-input=false", "-no-color"]


def workspace_argv(binary: str, workspace: str) -> list[str]:
    return [binary, "workspace", "select", "-or-create", "-no-color", "--", workspace]


def plan_argv(
    binary: str,
    *,
    plan_file: Path,
    variables: Mapping[str, Any],
    var_files: Sequence[Path],
    lock: bool = True,
) -> list[str]:
    """``terraform plan`` saving ``plan_file``; exit code 2 means changes.

    ``lock=False`` reads the state without taking its lock (``-lock=false``): a plan only
    reads, and an apply of its saved file is refused once the state has changed.
    """
    argv = [binary, "plan", "-input=false", "-no-color", "-detailed-exitcode", f"-out={plan_file}"]
    if not lock:
        argv.append("-lock=false")
    argv.extend(var_argument(name, variables[name]) for name in sorted(variables))
    argv.extend(f"-var-file={path}" for path in var_files)
    return argv


def show_argv(binary: str, plan_file: Path) -> list[str]:
    return [binary, "show", "-json", "-no-color", str(plan_file)]


def apply_argv(binary: str, plan_file: Path) -> list[str]:
    return [binary, "apply", "-input=false", "-no-color", "-auto-approve", str(plan_file)]


def state_pull_argv(binary: str) -> list[str]:
    return [binary, "state", "pull"]


def state_push_argv(binary: str, state_file: Path, *, force: bool = False) -> list[str]:
    """``terraform state push``: ``state_file`` into the configured backend (``-force``: over a lineage)."""
    return [binary, "state", "push", *(["-force"] if force else []), str(state_file)]


def output_argv(binary: str) -> list[str]:
    """``terraform output -json``: every root output with its value and ``sensitive`` flag."""
    return [binary, "output", "-json", "-no-color"]


def _literal(text: str) -> str:
    """Escape Terraform template sequences so that a path is taken literally."""
    return text.replace("${", "$${").replace("%{", "%%{")


def _terraform_blocks(text: str) -> list[str]:
    """The bodies of the top-level ``terraform`` blocks, with strings and comments blanked."""
    # Blank strings and comments (keeping newlines) so braces inside them do not count.
    plain = _SKIPPED.sub(lambda m: '""' if m.group().startswith('"') else "\n" * m.group().count("\n"), text)
    closing, top_level = _braces(plain)
    return [
        plain[match.end() : closing.get(match.end() - 1, len(plain))]
        for match in _TERRAFORM_BLOCK.finditer(plain)
        if match.end() - 1 in top_level
    ]


def _braces(text: str) -> tuple[dict[int, int], set[int]]:
    """Each ``{`` -> its matching ``}`` (unclosed ones left out), and the top-level ``{``.

    One pass over the braces. Top-level blocks never overlap, so their bodies add up to
    at most the file; counting from every ``terraform {`` line instead took quadratic
    time and memory on a file of nested or unclosed ones.
    """
    closing: dict[int, int] = {}
    top_level: set[int] = set()
    opened: list[int] = []
    for brace in _BRACE.finditer(text):
        if brace.group() == "{":
            if not opened:
                top_level.add(brace.start())
            opened.append(brace.start())
        elif opened:
            closing[opened.pop()] = brace.start()
    return closing, top_level


def _json_declares_backend(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False  # Terraform itself reports a broken file
    blocks = data.get("terraform") if isinstance(data, dict) else None
    for block in blocks if isinstance(blocks, list) else [blocks]:
        if isinstance(block, dict) and ("backend" in block or "cloud" in block):
            return True
    return False
