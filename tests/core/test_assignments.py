"""The rule that spreads repositories over live replicas (rendezvous hashing, even shares)."""

from __future__ import annotations

import random

import pytest

from truenorth.core import assignments

REPOS = [f"https://git.example/team/{n}.git#main" for n in range(300)]
REPLICAS = ["a/host-1:11", "b/host-2:12", "c/host-3:13"]


def _moved(before: assignments.Assignment, after: assignments.Assignment, repos: list[str]) -> int:
    return sum(1 for repo in repos if before.owner(repo) != after.owner(repo))


@pytest.mark.parametrize("count", [1, 2, 3, 10, 31, 300])
def test_every_repository_gets_one_owner_and_shares_differ_by_at_most_one(count: int) -> None:
    result = assignments.assign(replicas=REPLICAS, repositories=REPOS[:count])
    assert set(result.owners) == set(REPOS[:count])
    shares = [result.counts().get(replica, 0) for replica in REPLICAS]
    assert sum(shares) == count
    assert max(shares) - min(shares) <= 1
    assert set().union(*(result.held_by(r) for r in REPLICAS)) == set(REPOS[:count])


def test_every_replica_computes_the_same_answer_whatever_the_input_order() -> None:
    first = assignments.assign(replicas=REPLICAS, repositories=REPOS)
    shuffled_repos, shuffled_replicas = REPOS[:], [*REPLICAS, REPLICAS[0]]
    random.Random(7).shuffle(shuffled_repos)
    random.Random(8).shuffle(shuffled_replicas)
    again = assignments.assign(replicas=shuffled_replicas, repositories=shuffled_repos)
    assert again == first


def test_a_replica_leaving_moves_little_more_than_its_own_repositories() -> None:
    before = assignments.assign(replicas=REPLICAS, repositories=REPOS)
    after = assignments.assign(replicas=REPLICAS[:2], repositories=REPOS)
    lost = len(before.held_by(REPLICAS[2]))
    assert lost == 100
    # Its 100 must move; evening out the two survivors moves only a few more.
    assert lost <= _moved(before, after, REPOS) <= lost + 10
    assert not after.held_by(REPLICAS[2])


def test_a_replica_joining_takes_about_its_share_and_nothing_else_moves_much() -> None:
    before = assignments.assign(replicas=REPLICAS, repositories=REPOS)
    after = assignments.assign(replicas=[*REPLICAS, "d/host-4:14"], repositories=REPOS)
    assert len(after.held_by("d/host-4:14")) == 75
    assert 75 <= _moved(before, after, REPOS) <= 85


def test_no_replicas_assign_nothing_and_an_unknown_repository_has_no_owner() -> None:
    assert assignments.assign(replicas=[], repositories=REPOS).owners == {}
    result = assignments.assign(replicas=REPLICAS, repositories=REPOS[:3])
    assert result.owner("https://elsewhere.example/x.git#main") is None


def test_the_ranking_is_a_stable_total_order() -> None:
    ranked = assignments.ranking(REPLICAS, REPOS[0])
    assert sorted(ranked) == sorted(REPLICAS)
    assert assignments.ranking(reversed(REPLICAS), REPOS[0]) == ranked
    assert assignments.score("a", "x") == assignments.score("a", "x") != assignments.score("a", "y")
