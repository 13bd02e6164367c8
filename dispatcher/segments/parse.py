"""Parse segment YAML into a small validated tree; every error carries its config path."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from channels.durations import parse_duration
from dispatcher.segments.fields import FIELDS, OPERATORS

_ATTRIBUTE = re.compile(r"^attributes\.([A-Za-z_][A-Za-z0-9_]*)$")
_COMBINATORS = ("all", "any", "not")


@dataclass(frozen=True)
class Cond:
    field: str  # a FIELDS key, or "attributes.<name>"
    op: str
    value: Any


@dataclass(frozen=True)
class All:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class Ref:
    name: str


Node = Cond | All | AnyOf | Not | Ref


@dataclass(frozen=True)
class SegmentError:
    path: tuple[str | int, ...]
    message: str


def parse_segments(raw: dict[str, Any], channels: list[str]) -> tuple[dict[str, Node],
                                                                        list[SegmentError]]:
    """Parse every segment; report all errors; detect unknown references and cycles."""
    errors: list[SegmentError] = []
    parsed: dict[str, Node] = {}
    for name, body in raw.items():
        parser = _Parser(("segments", name), errors, channels)
        parsed[name] = parser.node(body, ("segments", name))
    for name, node in parsed.items():
        for ref, path in _refs(node, ("segments", name)):
            if ref not in parsed:
                known = ", ".join(sorted(parsed)) or "none"
                errors.append(SegmentError(path, f"unknown segment {ref!r} (known: {known})"))
    for name in parsed:
        cycle = _find_cycle(name, parsed, [])
        if cycle:
            errors.append(SegmentError(("segments", name),
                                       "segments refer to each other in a loop: "
                                       + " -> ".join(cycle)))
            break
    return parsed, errors


def _refs(node: Node, path: tuple[str | int, ...]) -> list[tuple[str, tuple[str | int, ...]]]:
    if isinstance(node, Ref):
        return [(node.name, path)]
    if isinstance(node, (All, AnyOf)):
        return [r for i, child in enumerate(node.items) for r in _refs(child, path)]
    if isinstance(node, Not):
        return _refs(node.item, path)
    return []


def _find_cycle(name: str, parsed: dict[str, Node], trail: list[str]) -> list[str] | None:
    if name in trail:
        return [*trail[trail.index(name):], name]
    if name not in parsed:
        return None
    for ref, _ in _refs(parsed[name], ()):
        found = _find_cycle(ref, parsed, [*trail, name])
        if found:
            return found
    return None


class _Parser:
    def __init__(self, root: tuple[str | int, ...], errors: list[SegmentError],
                 channels: list[str]) -> None:
        self.root = root
        self.errors = errors
        self.channels = channels

    def fail(self, path: tuple[str | int, ...], message: str) -> Node:
        self.errors.append(SegmentError(path, message))
        return All(())

    def node(self, body: Any, path: tuple[str | int, ...]) -> Node:
        if not isinstance(body, dict) or not body:
            return self.fail(path, "expected a mapping of conditions, or all/any/not")
        combinators = [key for key in body if key in _COMBINATORS]
        if combinators and len(body) > 1:
            return self.fail(path, f"'{combinators[0]}' must be the only key of its mapping")
        if "all" in body or "any" in body:
            key = "all" if "all" in body else "any"
            items = body[key]
            if not isinstance(items, list) or not items:
                return self.fail((*path, key), f"'{key}' needs a non-empty list of conditions")
            children = tuple(self.node(item, (*path, key, i)) for i, item in enumerate(items))
            return All(children) if key == "all" else AnyOf(children)
        if "not" in body:
            return Not(self.node(body["not"], (*path, "not")))
        conds = tuple(self.condition(key, value, (*path, key)) for key, value in body.items())
        return conds[0] if len(conds) == 1 else All(conds)

    def condition(self, field: str, spec: Any, path: tuple[str | int, ...]) -> Node:
        attribute = _ATTRIBUTE.match(field)
        if field not in FIELDS and not attribute:
            known = ", ".join(sorted(FIELDS))
            return self.fail(path, f"unknown field {field!r} (known: {known}, attributes.<name>)")
        kind = "attribute" if attribute else FIELDS[field].kind
        if kind == "segment":
            if not isinstance(spec, str):
                return self.fail(path, "expected a segment name")
            return Ref(spec)
        if kind == "consent":
            names = spec if isinstance(spec, list) else [spec]
            bad = [n for n in names if n not in self.channels]
            if bad or not names:
                return self.fail(path, f"unknown channel {bad[0] if bad else spec!r} "
                                       f"(known: {', '.join(self.channels)})")
            return Cond(field, "any_of", tuple(names))
        if kind == "birthday":
            if spec == "today":
                return Cond(field, "within", 0)
            if isinstance(spec, dict) and set(spec) == {"within"}:
                days = self.duration(spec["within"], (*path, "within"))
                if days is None:
                    return All(())
                if days % timedelta(days=1) or days > timedelta(days=31):
                    return self.fail((*path, "within"), "use whole days up to 31d, like 7d")
                return Cond(field, "within", days.days)
            return self.fail(path, "expected 'today' or {within: 7d}")
        if not isinstance(spec, dict):
            spec = {"eq": spec}
        nodes = []
        for op, value in spec.items():
            if op not in OPERATORS[kind]:
                return self.fail((*path, op), f"operator {op!r} does not apply to {field} "
                                              f"(use: {', '.join(sorted(OPERATORS[kind]))})")
            checked = self.value(kind, op, value, (*path, op))
            if checked is _BAD:
                return All(())
            nodes.append(Cond(field, op, checked))
        return nodes[0] if len(nodes) == 1 else All(tuple(nodes))

    def duration(self, value: Any, path: tuple[str | int, ...]) -> timedelta | None:
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.errors.append(SegmentError(path, str(exc)))
            return None

    def value(self, kind: str, op: str, value: Any, path: tuple[str | int, ...]) -> Any:
        if op == "is_null":
            if not isinstance(value, bool):
                self.errors.append(SegmentError(path, "is_null takes true or false"))
                return _BAD
            return value
        if op == "between":
            if not isinstance(value, list) or len(value) != 2:
                self.errors.append(SegmentError(path, "between takes a list of two values"))
                return _BAD
            low, high = (self.scalar(kind, v, path) for v in value)
            return _BAD if _BAD in (low, high) else (low, high)
        if op in ("in", "not_in"):
            if not isinstance(value, list) or not value:
                self.errors.append(SegmentError(path, f"{op} takes a non-empty list"))
                return _BAD
            items = tuple(self.scalar(kind, v, path) for v in value)
            return _BAD if _BAD in items else items
        return self.scalar(kind, value, path)

    def scalar(self, kind: str, value: Any, path: tuple[str | int, ...]) -> Any:
        if kind == "age":
            parsed = self.duration(value, path)
            return _BAD if parsed is None else parsed
        if kind == "number" and (isinstance(value, bool) or not isinstance(value, (int, float))):
            self.errors.append(SegmentError(path, f"expected a number, got {value!r}"))
            return _BAD
        if kind == "bool" and not isinstance(value, bool):
            self.errors.append(SegmentError(path, f"expected true or false, got {value!r}"))
            return _BAD
        if kind == "text" and not isinstance(value, str):
            return str(value)
        if kind == "attribute" and not isinstance(value, (str, int, float, bool)):
            self.errors.append(SegmentError(path, f"expected a text, number or boolean, "
                                                  f"got {value!r}"))
            return _BAD
        return value


_BAD = object()
