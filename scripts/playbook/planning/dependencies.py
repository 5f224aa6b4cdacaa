"""The stories of one request as a dependency graph: unknown dependencies, cycles, what waits for what.

Pure functions over ``(id, depends_on)`` pairs, so the plan the model answers with, the story
files on a branch and the dispatch decision all use the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def graph_problems(edges: Mapping[str, Sequence[str]]) -> list[str]:
    """Every unknown, self or circular dependency, each naming the stories; [] when the graph is sound."""
    problems: list[str] = []
    for sid in sorted(edges, key=sort_key):
        for dep in edges[sid]:
            if dep == sid:
                problems.append(f"story {sid}: depends on itself")
            elif dep not in edges:
                problems.append(f"story {sid}: depends on unknown story {dep}")
    cycle = find_cycle(edges)
    if cycle:
        problems.append("stories depend on each other in a circle: " + " → ".join(cycle)
                        + " (remove one of these dependencies)")
    return problems


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str]:
    """One dependency cycle as ``[a, b, …, a]`` (self-dependencies excluded), or []."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(edges, white)
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        colour[node] = grey
        stack.append(node)
        for dep in sorted(edges[node], key=sort_key):
            if dep == node or dep not in edges:
                continue
            if colour[dep] == grey:
                return [*stack[stack.index(dep):], dep]
            if colour[dep] == white and (found := visit(dep)):
                return found
        stack.pop()
        colour[node] = black
        return []

    for node in sorted(edges, key=sort_key):
        if colour[node] == white and (found := visit(node)):
            return found
    return []


def topological(edges: Mapping[str, Sequence[str]]) -> list[str]:
    """Story ids with every dependency before its dependents (ties by id); assumes no cycle."""
    done: list[str] = []
    seen: set[str] = set()

    def visit(node: str) -> None:
        if node in seen:
            return
        seen.add(node)
        for dep in sorted(edges.get(node, ()), key=sort_key):
            if dep in edges and dep != node:
                visit(dep)
        done.append(node)

    for node in sorted(edges, key=sort_key):
        visit(node)
    return done


def sort_key(story_id: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in story_id.split("."))
    except ValueError:
        return (10**6,)


def unmet(depends_on: Iterable[str], statuses: Mapping[str, str]) -> list[str]:
    """The dependencies that are not ``done`` yet (unknown ones count as unmet)."""
    return [dep for dep in depends_on if statuses.get(dep) != "done"]
