"""Dependency order between stacks: topological sort and cycles.

Pure graph functions over ``{name: dependencies}`` mappings (who waits for whom during a
walk is :mod:`truenorth.core.walks`). Order is stable: among stacks that are free to go,
declaration order wins, so plans read the same every time.
The graph comes from a pushed ``truenorth.yaml``: nothing here recurses, and nothing is
worse than linear-logarithmic in its size.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence

__all__ = ["CycleError", "find_cycle", "topological_order"]


class CycleError(ValueError):
    """The graph has a cycle; ``cycle`` names the stacks on it, first repeated last."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__("dependency cycle: " + " -> ".join(self.cycle))


def find_cycle(graph: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    """One cycle in ``graph`` as ``(a, b, ..., a)``, or ``()`` when there is none.

    Iterative (an explicit stack, not recursion): a ``depends_on`` chain of any length
    written by whoever can push is checked without hitting Python's recursion limit.
    """
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(graph, white)
    for root in graph:
        if color[root] != white:
            continue
        color[root] = grey
        path: list[str] = [root]
        position = {root: 0}
        pending: list[Iterator[str]] = [iter(graph.get(root, ()))]
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                done = path.pop()
                del position[done]
                color[done] = black
                pending.pop()
                continue
            if dep not in color:
                continue
            if color[dep] == grey:
                return (*path[position[dep] :], dep)
            if color[dep] == white:
                color[dep] = grey
                position[dep] = len(path)
                path.append(dep)
                pending.append(iter(graph.get(dep, ())))
    return ()


def topological_order(graph: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    """Names with every dependency before its dependents; raise :class:`CycleError`.

    Among the stacks free to go, the one declared first goes first. Linear in the size of
    the graph (times a logarithm), so a spec of thousands of stacks orders at once.
    """
    cycle = find_cycle(graph)
    if cycle:
        raise CycleError(cycle)
    index = {name: number for number, name in enumerate(graph)}
    waiting = {name: len({d for d in wanted if d in graph}) for name, wanted in graph.items()}
    children: dict[str, list[str]] = {name: [] for name in graph}
    for name, wanted in graph.items():
        for dep in {d for d in wanted if d in graph}:
            children[dep].append(name)
    ready = [index[name] for name, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    names = list(graph)
    done: list[str] = []
    while ready:
        name = names[heapq.heappop(ready)]
        done.append(name)
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, index[child])
    return tuple(done)
