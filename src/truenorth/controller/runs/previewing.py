"""A merge request's preview: plan only what it changes, as its target branch would see it.

Both paths take this: the CLI (``truenorth plan REPO --ref HEAD --base main``, from any
CI) and the controller (a forge's merge-request webhook,
:mod:`truenorth.controller.loop.previewing`). :func:`prepare` resolves the head and the
base, finds their merge base (where the branch left its target), the paths changed
since then and the stacks they affect (:func:`truenorth.core.previews.select`: changed
inputs, plus everything downstream through ``depends_on`` and ``inputs:``).
:func:`plan` plans those in dependency order at the head commit, keyed as the target
branch (each stack's plan reads the target's engine state and recorded outputs), a
downstream stack with its upstream's *planned* outputs where the plan knows them
(Terraform's known values: the preview shows the Ansible and Kubernetes changes a
Terraform change will cause) and "known after X applies" where it does not. The
result is a :class:`~truenorth.forges.comments.Preview` for the comment renderer.

Every plan is a recorded run through :mod:`.executing` (sandboxed, redacted like any,
its reason says "preview"), which leaves the stack's state alone: a preview never
becomes a stack's pending plan, so nothing can approve or apply it. With replicas it
reads the engine's shared state files from the store (the Kubernetes inventory: its
plan shows the prunes) and never writes them (:mod:`.carrying`). A preview takes no
stack lock (it changes nothing), so it may run beside an apply of the same stack: its
plans are read-only (``record_state=False`` sets ``StackContext.read_only``), and the
engine then writes nothing in the stack's state dir and takes no lock of its state
(Terraform: a working area of its own, a copy of the state, ``-lock=false``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from truenorth.controller.runs import executing, runtime, sources, validating
from truenorth.core import outputs, previews, specs
from truenorth.forges import comments
from truenorth.git import ancestry, urls
from truenorth.git import errors as git_errors

__all__ = ["Prepared", "Result", "plan", "prepare"]


@dataclass(frozen=True)
class Prepared:
    """What a preview plans: the head (keyed as the base's branch), the base, and the selection."""

    head: sources.Revision
    spec: specs.RepoSpec
    base: comments.Revision
    merge_base: str | None
    selection: previews.Selection


@dataclass(frozen=True)
class Result:
    """The plans of a preview and the comment's content."""

    preview: comments.Preview
    #: The head commit, as planned (keyed as the base's branch).
    revision: sources.Revision
    outcomes: tuple[executing.Outcome, ...] = field(default=())

    @property
    def failed(self) -> bool:
        return any(item.plan is None for item in self.outcomes) or any(
            item.error is not None for item in self.preview.stacks
        )

    @property
    def has_changes(self) -> bool:
        return any(item.plan is not None and item.plan.has_changes for item in self.outcomes)


def prepare(rt: runtime.Runtime, repo: str, *, head: str, base: str, fetch: bool = True) -> Prepared:
    """Check out ``head`` and find what it changes since it left ``base``.

    Raises :class:`~truenorth.git.errors.GitError` (an unknown ref) and
    :class:`~truenorth.core.specs.SpecError` (the head's ``truenorth.yaml`` is invalid).
    """
    base_revision = rt.sources.checkout(repo, ref=base, fetch=fetch)
    revision = rt.sources.checkout(
        repo, ref=head, branch=urls.branch_of(base_revision.key) or None, fetch=False
    )
    spec = validating.validate_checkout(revision.checkout)
    cache = rt.sources.cache
    merge_base = ancestry.merge_base(cache, revision.url, base=base_revision.sha, head=revision.sha)
    base_spec: specs.RepoSpec | None = None
    changed: tuple[str, ...] | None = None
    if merge_base is not None:
        try:
            base_spec = validating.validate_checkout(cache.snapshot(revision.url, merge_base))
        except (specs.SpecError, git_errors.GitError):
            base_spec = None  # an invalid base: every stack of the head is new to it
        changed = cache.changed_paths(revision.url, merge_base, revision.sha)
    selection = previews.select(base=base_spec, head=spec, changed_paths=changed)
    shown_base = comments.Revision(sha=base_revision.sha, ref=base, subject=base_revision.commit.subject)
    return Prepared(head=revision, spec=spec, base=shown_base, merge_base=merge_base, selection=selection)


def plan(
    rt: runtime.Runtime,
    prepared: Prepared,
    *,
    repository: str,
    head_ref: str = "",
    actor: str | None = None,
    reason: str = "preview",
    link: str | None = None,
    planned: Callable[[executing.Outcome], None] = lambda outcome: None,
) -> Result:
    """Plan the selected stacks in dependency order; the :class:`Result` (``planned`` hears
    each outcome as it ends)."""
    revision, spec = prepared.head, prepared.spec
    outcomes: dict[str, executing.Outcome] = {}
    shown: list[comments.StackPreview] = []
    skipped = [comments.Skipped(stack=name, reason=why) for name, why in prepared.selection.skipped]
    for name in prepared.selection.names:
        stack = spec.stack(name)
        after = prepared.selection.after.get(name, ())
        failed = [up for up in after if up in outcomes and outcomes[up].plan is None] + [
            up for up in after if up not in outcomes
        ]
        if failed:
            skipped.append(
                comments.Skipped(stack=name, reason=f"not planned: {', '.join(failed)} could not be planned")
            )
            continue
        outcome = executing.plan_stack(
            rt,
            revision,
            stack,
            actor=actor,
            reason=reason,
            planned_upstream=_planned(outcomes, after),
            record_state=False,
        )
        outcomes[name] = outcome
        planned(outcome)
        shown.append(
            comments.StackPreview(
                stack=name,
                engine=stack.engine,
                plan=outcome.plan,
                error=outcome.result.error or None if outcome.plan is None else None,
                after=after,
            )
        )
    preview = comments.Preview(
        repository=repository,
        base=prepared.base,
        head=comments.Revision(sha=revision.sha, ref=head_ref, subject=revision.commit.subject),
        stacks=tuple(shown),
        skipped=tuple(skipped),
        link=link,
    )
    return Result(preview=preview, revision=revision, outcomes=tuple(outcomes.values()))


def _planned(
    outcomes: Mapping[str, executing.Outcome], after: Sequence[str]
) -> dict[str, tuple[outputs.Output, ...]]:
    """Each upstream's planned outputs (what a downstream stack reads in a preview)."""
    found: dict[str, tuple[outputs.Output, ...]] = {}
    for name in after:
        outcome = outcomes.get(name)
        if outcome is not None and outcome.plan is not None:
            found[name] = outcome.plan.planned_outputs
    return found
