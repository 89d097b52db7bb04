"""Is one commit an ancestor of another? The guard against deploying history backwards.

The controller never applies a revision older than the one a stack runs except through
an explicit rollback: a force-push that moves a branch back to an older commit is
reported, not applied. :func:`is_ancestor` asks the repository's mirror
(``git merge-base --is-ancestor``); it reads only, so it does not take the mirror's lock.
:func:`merge_base` is where a merge request's branch left its target: a preview plans
what changed since then. Both answers are facts about commits, which never change: the
mirror cache keeps them (:meth:`~truenorth.git.mirrors.MirrorCache.recall`), so each
pair is asked once.
"""

from __future__ import annotations

from truenorth.git import commands, errors, mirrors, refs

__all__ = ["is_ancestor", "merge_base"]


def is_ancestor(cache: mirrors.MirrorCache, source: str, *, ancestor: str, descendant: str) -> bool:
    """True when commit ``ancestor`` is ``descendant`` or one of its ancestors.

    Both must be full SHAs present in the mirror of ``source`` (fetched before). Raises
    :class:`GitError` when either is not a full SHA or not in the mirror.
    """
    for sha in (ancestor, descendant):
        if not refs.is_full_sha(sha):
            raise errors.GitError(f"{sha!r} is not a full commit SHA")
    if ancestor == descendant:
        return True
    kept = cache.recall(source, "is-ancestor", ancestor, descendant)
    if isinstance(kept, bool):
        return kept
    path = cache.mirror_path(source)
    if not path.is_dir():
        raise errors.GitError(f"{source} has no mirror yet: fetch it first")
    out = commands.run_git(
        ["merge-base", "--is-ancestor", "--end-of-options", ancestor, descendant],
        cwd=path,
        timeout=cache.timeout,
        ok_codes=(0, 1),
    )
    found = out.returncode == 0
    cache.keep(source, "is-ancestor", ancestor, descendant, value=found)
    if found:  # then the other way round it is not (they differ)
        cache.keep(source, "is-ancestor", descendant, ancestor, value=False)
    return found


def merge_base(cache: mirrors.MirrorCache, source: str, *, base: str, head: str) -> str | None:
    """The best common ancestor of commits ``base`` and ``head`` (full SHAs in the mirror),
    or None when they share no history."""
    for sha in (base, head):
        if not refs.is_full_sha(sha):
            raise errors.GitError(f"{sha!r} is not a full commit SHA")
    kept = cache.recall(source, "merge-base", base, head)
    if isinstance(kept, str):
        return kept or None
    path = cache.mirror_path(source)
    if not path.is_dir():
        raise errors.GitError(f"{source} has no mirror yet: fetch it first")
    out = commands.run_git(
        ["merge-base", "--end-of-options", base, head], cwd=path, timeout=cache.timeout, ok_codes=(0, 1)
    )
    found = out.text().strip() if out.returncode == 0 else ""
    found = found if refs.is_full_sha(found) else ""
    cache.keep(source, "merge-base", base, head, value=found)
    return found or None
