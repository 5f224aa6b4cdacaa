"""YAML loading for the checks: safe, bounded, and remembering the line of every key.

Findings must name a line, so the document is composed into nodes (which keep their
start marks) and walked once beside the plain data. Hostile input is bounded: a size
cap, and a cap on nodes visited so alias bombs cannot expand without limit.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

MAX_BYTES = 1_000_000
MAX_NODES = 50_000

Path_ = tuple[str, ...]


class YamlProblem(Exception):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


class _TolerantLoader(yaml.SafeLoader):
    """SafeLoader that reads application tags (Ansible's ``!vault``) as plain values."""


def _construct_unknown(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_TolerantLoader.add_multi_constructor("!", _construct_unknown)


@dataclass
class YamlDoc:
    data: Any
    lines: dict[Path_, int] = field(default_factory=dict)

    def line(self, *path: object) -> int | None:
        """Line of the deepest known key on path (1-based), falling back to its parents."""
        keys = tuple(str(p) for p in path)
        while keys:
            if keys in self.lines:
                return self.lines[keys]
            keys = keys[:-1]
        return self.lines.get((), None)


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int], budget: list[int]) -> None:
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlProblem(f"document expands to more than {MAX_NODES} nodes (alias expansion?)", None)
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            child = path + (key,)
            lines.setdefault(child, key_node.start_mark.line + 1)
            _walk(value_node, child, lines, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _walk(item, path + (str(index),), lines, budget)


def load(text: str) -> YamlDoc:
    """Parse one YAML document; raise YamlProblem with a line on any error."""
    if len(text.encode("utf-8", "replace")) > MAX_BYTES:
        raise YamlProblem(f"file is larger than {MAX_BYTES} bytes", None)
    loader = _TolerantLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDoc(None, {})
        lines: dict[Path_, int] = {}
        _walk(node, (), lines, [MAX_NODES])
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise YamlProblem(" ".join(str(p) for p in (exc.context, exc.problem) if p), line) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(str(exc), None) from None
    except RecursionError:
        raise YamlProblem("document is nested too deeply", None) from None
    finally:
        loader.dispose()
    return YamlDoc(data, lines)


def strings(value: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str]]:
    """Every string scalar in a loaded document, with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings(item, path + (str(key),))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from strings(item, path + (str(index),))
