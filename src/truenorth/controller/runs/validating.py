"""Checking a checked-out revision before anything is planned or applied from it.

The pure spec checks live in :mod:`truenorth.core.specs`; this module adds what only the
checkout on disk can tell: that every stack folder, var file, playbook and inventory
exists, and that no path or symlink leads outside the repository or, for stack content,
outside the stack's own folder (case 1 and 2 of the security cases). A revision with any
issue is refused as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from truenorth import paths
from truenorth.core import specs

__all__ = ["load_spec", "validate_checkout"]


def load_spec(root: Path) -> specs.RepoSpec:
    """Read and parse ``truenorth.yaml`` at ``root`` (no on-disk path checks)."""
    path = root / specs.SPEC_FILENAME
    if path.is_symlink() or not path.is_file():
        raise specs.SpecError(
            [
                specs.SpecIssue(
                    specs.SPEC_FILENAME, "", "missing: the repository has no truenorth.yaml at its root"
                )
            ]
        )
    if path.stat().st_size > specs.MAX_SPEC_BYTES:
        raise specs.SpecError(
            [specs.SpecIssue(specs.SPEC_FILENAME, "", f"larger than the {specs.MAX_SPEC_BYTES} byte limit")]
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise specs.SpecError([specs.SpecIssue(specs.SPEC_FILENAME, "", "is not UTF-8 text")]) from None
    return specs.parse_spec(text, filename=specs.SPEC_FILENAME)


def validate_checkout(root: Path) -> specs.RepoSpec:
    """Parse the spec at ``root`` and check every path it names; raise :class:`SpecError`."""
    spec = load_spec(root)
    issues: list[specs.SpecIssue] = []
    for index, stack in enumerate(spec.stacks):
        issues.extend(_check_stack(root, stack, where=f"stacks[{index}]"))
    if issues:
        raise specs.SpecError(issues)
    return spec


def _check_stack(root: Path, stack: specs.StackSpec, *, where: str) -> list[specs.SpecIssue]:
    found: list[specs.SpecIssue] = []

    def issue(field: str, message: str) -> None:
        found.append(specs.SpecIssue(specs.SPEC_FILENAME, f"{where}.{field}", message))

    try:
        folder = paths.resolve_inside(root, stack.path)
    except paths.PathEscapeError:
        issue("path", f"{stack.path!r} escapes the repository")
        return found
    if not folder.is_dir():
        issue("path", f"{stack.path!r} does not exist or is not a folder")
        return found
    for link in paths.escaping_links(root, stack.path):
        issue("path", f"symlink {link!r} points outside the stack folder (refused)")
    options = stack.options
    if isinstance(options, specs.TerraformOptions):
        for position, var_file in enumerate(options.var_files):
            _check_file(root, var_file, field=f"var_files[{position}]", issue=issue)
    elif isinstance(options, specs.AnsibleOptions):
        _check_file(folder, options.playbook, field="playbook", issue=issue)
        if options.inventory is not None:
            _check_file(folder, options.inventory, field="inventory", issue=issue, folder_ok=True)
    return found


def _check_file(
    base: Path,
    relative: str,
    *,
    field: str,
    issue: Callable[[str, str], None],
    folder_ok: bool = False,
) -> None:
    try:
        target = paths.resolve_inside(base, relative)
    except paths.PathEscapeError:
        issue(field, f"{relative!r} escapes its folder")
        return
    if not (target.is_file() or (folder_ok and target.is_dir())):
        issue(field, f"{relative!r} does not exist")
