"""Which replica should own which repository: a stable, balanced assignment.

Several ``truenorth serve`` replicas share one PostgreSQL store; each tracked repository
is worked on by one replica at a time, the holder of its lease (``store/leasing.py``).
This module is the rule every replica applies to the same inputs (the live replicas and
the tracked repositories, both read from the database) to decide which leases it should
try to take and which it should hand back, with no coordinator and no messages.

Rendezvous (highest random weight) hashing: each (replica, repository) pair gets a score
from SHA-256, and a repository belongs to the replica with the highest score. It is
stable (a repository moves only when its owner leaves, or when a new replica outscores
the owner), and a replica joining or leaving moves about ``1/n`` of the repositories.
Pure hashing balances only on average (with 3 replicas and 10 repositories one may get
6), so :func:`assign` then caps every replica at an even share (``repositories //
replicas``, one more for as many replicas as there are left over): a repository over
the cap goes to its next-best replica with room. Shares then differ by at most one; the
rendezvous order keeps moves few.

No I/O and no clock: the same inputs give the same answer on every replica.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Assignment", "assign", "ranking", "score"]


def score(replica: str, repository: str) -> int:
    """The rendezvous weight of ``replica`` for ``repository`` (a 64-bit number)."""
    digest = hashlib.sha256(f"{replica}\x00{repository}".encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big")


def ranking(replicas: Iterable[str], repository: str) -> tuple[str, ...]:
    """``replicas`` from the best to the worst owner of ``repository`` (ties by name)."""
    return tuple(sorted(set(replicas), key=lambda replica: (-score(replica, repository), replica)))


@dataclass(frozen=True)
class Assignment:
    """The owner of every repository, for one set of live replicas."""

    owners: Mapping[str, str]

    def owner(self, repository: str) -> str | None:
        """The replica that should hold ``repository`` (None: no live replica)."""
        return self.owners.get(repository)

    def held_by(self, replica: str) -> frozenset[str]:
        """The repositories ``replica`` should hold."""
        return frozenset(repo for repo, owner in self.owners.items() if owner == replica)

    def counts(self) -> dict[str, int]:
        """How many repositories each owning replica gets."""
        found: dict[str, int] = {}
        for owner in self.owners.values():
            found[owner] = found.get(owner, 0) + 1
        return found


def assign(*, replicas: Iterable[str], repositories: Iterable[str]) -> Assignment:
    """Give every repository to one of ``replicas``: rendezvous order, at most an even share each.

    Repositories are taken in a fixed order, each by its best-ranked replica with room
    under an even share (shares differ by at most one).
    Without replicas, nothing is assigned.
    """
    live = sorted(set(replicas))
    wanted = sorted(set(repositories))
    if not live or not wanted:
        return Assignment(owners={})
    base, extra = divmod(len(wanted), len(live))
    load = dict.fromkeys(live, 0)
    over = 0  # replicas holding base + 1 already: at most ``extra`` may
    owners: dict[str, str] = {}
    # Hand out first the repositories whose favourite is most contested, so that the cap
    # pushes out the weakest claims: order by the best score, highest first.
    ranked = {repo: ranking(live, repo) for repo in wanted}
    order = sorted(wanted, key=lambda repo: (-score(ranked[repo][0], repo), repo))
    for repo in order:
        for replica in ranked[repo]:
            if load[replica] < base or (load[replica] == base and over < extra):
                over += load[replica] == base
                owners[repo] = replica
                load[replica] += 1
                break
    return Assignment(owners=dict(sorted(owners.items())))
