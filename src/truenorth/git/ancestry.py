"""Is one commit an ancestor of another? The guard against deploying history backwards.

The controller never applies a revision older than the one a stack runs except through
an explicit rollback: a force-push that moves a branch back to an older commit is
reported, not applied. :func:`is_ancestor` asks the repository's mirror
(``git merge-base --is-ancestor``); it reads only, so it does not take the mirror's lock.
"""

from __future__ import annotations

from truenorth.git import commands, errors, mirrors, refs

__all__ = ["is_ancestor"]


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
    path = cache.mirror_path(source)
    if not path.is_dir():
        raise errors.GitError(f"{source} has no mirror yet: fetch it first")
    out = commands.run_git(
        ["merge-base", "--is-ancestor", "--end-of-options", ancestor, descendant],
        cwd=path,
        timeout=cache.timeout,
        ok_codes=(0, 1),
    )
    return out.returncode == 0
