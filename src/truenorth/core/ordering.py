"""Dependency order between stacks: topological sort, cycles, and who depends on whom.

Pure graph functions over ``{name: dependencies}`` mappings. Order is stable: among
stacks that are free to go, declaration order wins, so plans read the same every time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

__all__ = ["CycleError", "dependents", "find_cycle", "topological_order"]


class CycleError(ValueError):
    """The graph has a cycle; ``cycle`` names the stacks on it, first repeated last."""

    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = tuple(cycle)
        super().__init__("dependency cycle: " + " -> ".join(self.cycle))


def find_cycle(graph: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    """One cycle in ``graph`` as ``(a, b, ..., a)``, or ``()`` when there is none."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(graph, white)
    stack: list[str] = []

    def visit(node: str) -> tuple[str, ...]:
        color[node] = grey
        stack.append(node)
        for dep in graph.get(node, ()):
            if dep not in color:
                continue
            if color[dep] == grey:
                return (*stack[stack.index(dep) :], dep)
            if color[dep] == white:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        color[node] = black
        return ()

    for node in graph:
        if color[node] == white:
            found = visit(node)
            if found:
                return found
    return ()


def topological_order(graph: Mapping[str, Iterable[str]]) -> tuple[str, ...]:
    """Names with every dependency before its dependents; raise :class:`CycleError`."""
    cycle = find_cycle(graph)
    if cycle:
        raise CycleError(cycle)
    deps = {name: [d for d in wanted if d in graph] for name, wanted in graph.items()}
    done: list[str] = []
    placed: set[str] = set()
    while len(done) < len(deps):
        for name, needs in deps.items():  # declaration order among the ready ones
            if name not in placed and all(d in placed for d in needs):
                done.append(name)
                placed.add(name)
                break
    return tuple(done)


def dependents(graph: Mapping[str, Iterable[str]], roots: Iterable[str]) -> frozenset[str]:
    """Every stack that depends on any of ``roots``, directly or through others."""
    reverse: dict[str, set[str]] = {name: set() for name in graph}
    for name, deps in graph.items():
        for dep in deps:
            reverse.setdefault(dep, set()).add(name)
    found: set[str] = set()
    todo = list(roots)
    while todo:
        for child in reverse.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return frozenset(found)
