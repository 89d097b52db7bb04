"""``truenorth plan REPO --ref HEAD --base main``: preview a merge request from any CI.

Plans only the stacks the branch changes since it left ``--base`` (and those downstream
of them), as the base branch would see them (:mod:`truenorth.controller.runs.previewing`),
and prints them as a text plan, a JSON document or (``--format markdown``) the
merge-request comment (:func:`truenorth.forges.comments.render`), cut with a visible note
at ``--comment-limit`` characters (GitHub's 65,536 by default; GitLab takes 1,000,000).
Exit codes as ``plan``: 0 no changes, 2 changes, 1 an error or a failed plan.

The heavy parts (git, the store, the engines) are imported when the command runs.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from truenorth.controller.runs import executing, previewing, runtime

__all__ = ["markdown", "plan_markdown", "preview", "write"]


def preview(
    rt: runtime.Runtime,
    repo: str,
    *,
    ref: str | None,
    base: str,
    stacks: list[str],
    fail: Callable[[str], Any],
    planned: Callable[[executing.Outcome], None] = lambda outcome: None,
) -> previewing.Result:
    """Plan what ``ref`` (default ``HEAD`` of the default branch) changes since it left ``base``."""
    from truenorth.controller.runs import previewing
    from truenorth.core import specs
    from truenorth.git import errors as git_errors

    head = ref or "HEAD"
    try:
        prepared = previewing.prepare(rt, repo, head=head, base=base)
    except git_errors.GitError as exc:
        fail(str(exc))
        raise
    except specs.SpecError as exc:
        lines = "\n".join(f"  {issue}" for issue in exc.issues)
        fail(f"the head's {specs.SPEC_FILENAME} is invalid; nothing is planned:\n{lines}")
        raise
    unknown = [name for name in stacks if name not in prepared.spec.names]
    if unknown:
        fail(f"no such stack: {', '.join(unknown)}")
    if stacks:
        prepared = _only(prepared, set(stacks))
    return previewing.plan(rt, prepared, repository=prepared.head.shown_url, head_ref=head, planned=planned)


def markdown(result: previewing.Result, *, limit: int) -> str:
    """The merge-request comment for ``result``."""
    from truenorth.forges import comments

    return comments.render(result.preview, limit=limit)


def plan_markdown(
    outcomes: list[executing.Outcome], *, revision: Any, engines: dict[str, str], limit: int
) -> str:
    """``truenorth plan --format markdown`` without ``--base``: every planned stack, as a comment."""
    from truenorth.forges import comments

    shown = comments.Revision(sha=revision.sha, ref=revision.ref, subject=revision.commit.subject)
    stacks = tuple(
        comments.StackPreview(
            stack=item.result.stack,
            engine=engines.get(item.result.stack, ""),
            plan=item.plan,
            error=(item.result.error or "plan failed") if item.plan is None else None,
        )
        for item in outcomes
    )
    preview = comments.Preview(repository=revision.shown_url, base=shown, head=shown, stacks=stacks)
    return comments.render(preview, limit=limit)


def write(text: str) -> None:
    """Print ``text`` as it is: Markdown is data (no terminal styling); the renderer has
    already written every control character as a visible escape."""
    sys.stdout.write(text)
    if not text.endswith("\n"):
        sys.stdout.write("\n")
    sys.stdout.flush()


def _only(prepared: previewing.Prepared, wanted: set[str]) -> previewing.Prepared:
    """``prepared`` narrowed to the stacks the user named (``--stack``)."""
    import dataclasses

    from truenorth.core import previews

    selection = prepared.selection
    narrowed = previews.Selection(
        planned=tuple(item for item in selection.planned if item[0] in wanted),
        after={k: tuple(v for v in ups if v in wanted) for k, ups in selection.after.items() if k in wanted},
        skipped=selection.skipped
        + tuple((name, "not selected (--stack)") for name, _ in selection.planned if name not in wanted),
    )
    return dataclasses.replace(prepared, selection=narrowed)
