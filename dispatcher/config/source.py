"""Read YAML while remembering where every key and value came from, within fixed bounds.

ruamel.yaml composes the file into nodes that carry their line and column; we walk
them into plain Python data plus a map from path tuple to Location, so that
pydantic's error paths can be turned back into ``file:line:col``. ``${NAME}``
references are recorded here and substituted by ``env.py`` (which knows where
secrets may go).

Bounds, the same for ``validate``, every command and a SIGHUP reload:

- the config file and its includes together hold at most ``MAX_CONFIG_BYTES``;
  anything but a regular file (a FIFO, /dev/zero) is refused without reading it;
- the document, with every alias (``*name``) expanded, has at most ``MAX_VALUES``
  values (a "billion laughs" file is refused after ``MAX_VALUES`` steps instead of
  expanding into gigabytes) and nests at most ``MAX_DEPTH`` levels; an alias that
  contains itself is refused;
- parsing takes time linear in the size: the safe composer, not the round-trip
  loader, whose comment handling made 50 MiB of comment lines take minutes.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.parser import Parser

from dispatcher.config.errors import ConfigIssue, Location

PathKey = tuple[str | int, ...]

MAX_CONFIG_BYTES = 2 * 1024 * 1024
MAX_VALUES = 100_000
MAX_DEPTH = 64
# The C parser composes nested collections recursively: 20,000 levels of "- - - x"
# crash the process (SIGSEGV). A cheap scan refuses deep text before it gets there.
_PARSER_DEPTH = 1000
_FLOW = re.compile(r"[\[\]{}]|^[ \t]*#.*$", re.MULTILINE)
_STR, _NULL = "tag:yaml.org,2002:str", "tag:yaml.org,2002:null"
_BLOCK = re.compile(r"^([ \t]*)((?:[-?:][ \t]+)*)(?=\S)", re.MULTILINE)


@dataclass
class ReadBudget:
    """What is left for the config file and its includes together."""

    bytes_left: int = MAX_CONFIG_BYTES
    values_left: int = MAX_VALUES


class LocatedDocument:
    """Plain data + where each path was written, and which values name ``${ENV}``."""

    def __init__(self) -> None:
        self.locations: dict[PathKey, Location] = {}
        # path -> the text as written, for every string value with a ${NAME} in it
        self.env_refs: dict[PathKey, str] = {}
        # (value after substitution, text as written): error messages never echo
        # a value that came from the environment
        self.substituted: list[tuple[str, str]] = []
        # dotted path -> the issue reading the file found there (a NaN, a secret in a
        # text field); the model's own complaint about the same value is noise
        self.claimed: dict[str, ConfigIssue] = {}

    def claim(self, issue: ConfigIssue) -> ConfigIssue:
        self.claimed.setdefault(issue.path, issue)
        return issue

    def without_followups(self, issues: list[ConfigIssue]) -> list[ConfigIssue]:
        return [i for i in issues if i.path not in self.claimed or i == self.claimed[i.path]]

    def locate(self, path: PathKey) -> Location | None:
        """The location of ``path`` or of its nearest located ancestor."""
        for cut in range(len(path), -1, -1):
            loc = self.locations.get(tuple(path[:cut]))
            if loc is not None:
                return loc
        return None


class _Refused(Exception):
    """The document is over a bound; carries the issue to report."""

    def __init__(self, issue: ConfigIssue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def load_yaml(file: Path, display: str, doc: LocatedDocument, issues: list[ConfigIssue],
              prefix: PathKey = (), budget: ReadBudget | None = None) -> Any:
    """Parse ``file``; record locations (and ``${ENV}`` references) under ``prefix``."""
    budget = budget if budget is not None else ReadBudget()
    where = ".".join(map(str, prefix))
    text = _read(file, display, where, issues, budget)
    if text is None:
        return None
    if _nesting_bound(text) > _PARSER_DEPTH:
        issues.append(ConfigIssue(Location(display, 1, 1), "",
                                  f"invalid YAML: nested more than {MAX_DEPTH} levels deep"))
        return None
    try:
        yaml, node = _compose(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        issues.append(ConfigIssue(loc, "", f"invalid YAML: {problem}"))
        return None
    except YAMLError as exc:  # e.g. a control character the reader refuses
        issues.append(ConfigIssue(Location(display, 1, 1), "", f"invalid YAML: {exc}"))
        return None
    except RecursionError:
        issues.append(ConfigIssue(Location(display, 1, 1), "",
                                  f"invalid YAML: nested more than {MAX_DEPTH} levels deep"))
        return None
    doc.locations.setdefault(prefix, Location(display, 1, 1))
    if node is None:
        return None
    walker = _Walker(yaml, display, doc, issues, budget)
    try:
        return walker.plain(node, prefix, 0)
    except _Refused as exc:
        issues.append(exc.issue)
        return None
    except MarkedYAMLError as exc:  # a merge key or tag the constructor refuses
        mark = exc.problem_mark or exc.context_mark
        loc = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)
        issues.append(ConfigIssue(loc, "", f"invalid YAML: {exc.problem or exc.context}"))
        return None


def _read(file: Path, display: str, where: str, issues: list[ConfigIssue],
          budget: ReadBudget) -> str | None:
    try:
        with open(file, "rb", opener=_open_nonblocking) as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                issues.append(ConfigIssue(None, where, f"cannot read {display}: "
                                                       f"not a regular file"))
                return None
            raw = fh.read(budget.bytes_left + 1)
    except OSError as exc:
        issues.append(ConfigIssue(None, where, f"cannot read {display}: {exc.strerror}"))
        return None
    if len(raw) > budget.bytes_left:
        issues.append(ConfigIssue(Location(display, 1, 1), where,
                                  f"the configuration is over {MAX_CONFIG_BYTES // 1024} KiB "
                                  f"(config.yaml and its includes together)"))
        return None
    budget.bytes_left -= len(raw)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        issues.append(ConfigIssue(Location(display, line, 1), where, "not UTF-8 text"))
        return None


def _compose(text: str) -> tuple[YAML, Any]:
    """The document's node tree: from libyaml (ruamel.yaml.clib) when it is installed and
    accepts the text, else from ruamel's own parser, the reference (libyaml follows YAML
    1.1 and refuses e.g. ``[http://127.0.0.1:8080]``, which YAML 1.2 allows)."""
    fast = YAML(typ="safe")
    if fast.Parser is not Parser:
        with contextlib.suppress(YAMLError):
            return fast, fast.compose(text)
    reference = YAML(typ="safe", pure=True)
    return reference, reference.compose(text)


def _nesting_bound(text: str) -> int:
    """At least as deep as the document nests (brackets in strings count too)."""
    deepest = depth = 0
    for match in _FLOW.finditer(text):
        mark = match.group()
        if mark in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif mark in "]}":
            depth -= 1
    block = max((len(m.group(1)) + m.group(2).count(" ") + m.group(2).count("\t")
                 for m in _BLOCK.finditer(text)), default=0)
    return deepest + block


def _open_nonblocking(path: str, flags: int) -> int:
    # A FIFO opened for reading would wait for a writer; O_NONBLOCK returns at once and
    # the fstat check refuses it.
    return os.open(path, flags | os.O_NONBLOCK)


@dataclass
class _Walker:
    yaml: YAML
    display: str
    doc: LocatedDocument
    issues: list[ConfigIssue]
    budget: ReadBudget
    _open: set[int] = field(default_factory=set)  # nodes being expanded (alias cycles)

    def __post_init__(self) -> None:
        self.constructor = self.yaml.constructor

    def plain(self, node: Node, path: PathKey, depth: int) -> Any:
        self.budget.values_left -= 1
        if self.budget.values_left < 0:
            raise _Refused(ConfigIssue(
                self._at(node), ".".join(map(str, path)),
                f"the configuration has more than {MAX_VALUES} values with its aliases "
                f"(*name) expanded; aliases may not multiply the document"))
        if depth > MAX_DEPTH:
            raise _Refused(ConfigIssue(self._at(node), ".".join(map(str, path)),
                                       f"nested more than {MAX_DEPTH} levels deep"))
        if isinstance(node, ScalarNode):
            return self._scalar(node, path)
        if id(node) in self._open:
            raise _Refused(ConfigIssue(self._at(node), ".".join(map(str, path)),
                                       "an alias (*name) that contains itself"))
        self._open.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self._mapping(node, path, depth)
            if isinstance(node, SequenceNode):
                return self._sequence(node, path, depth)
        finally:
            self._open.discard(id(node))
        return None

    def _mapping(self, node: MappingNode, path: PathKey, depth: int) -> dict[str, Any]:
        self.constructor.flatten_mapping(node)  # merge keys (<<: *base)
        merged = getattr(node, "merge", None) or []
        out: dict[str, Any] = {}
        explicit: set[str] = set()
        for pairs, from_merge in ((merged, True), (node.value, False)):
            for key_node, value_node in pairs:
                key = self._key(key_node, path)
                if not from_merge:
                    if key in explicit:
                        self.issues.append(ConfigIssue(self._at(key_node),
                                                       ".".join(map(str, (*path, key))),
                                                       f"duplicate key '{key}'"))
                        continue
                    explicit.add(key)
                child_path = (*path, key)
                at_key = not isinstance(value_node, ScalarNode) or value_node.tag == _NULL
                self.doc.locations[child_path] = self._at(key_node if at_key else value_node)
                out[key] = self.plain(value_node, child_path, depth + 1)
        return out

    def _sequence(self, node: SequenceNode, path: PathKey, depth: int) -> list[Any]:
        items = []
        for index, item in enumerate(node.value):
            child_path = (*path, index)
            self.doc.locations[child_path] = self._at(item)
            items.append(self.plain(item, child_path, depth + 1))
        return items

    def _key(self, node: Node, path: PathKey) -> str:
        if not isinstance(node, ScalarNode):
            raise _Refused(ConfigIssue(self._at(node), ".".join(map(str, path)),
                                       "a key must be a plain value, not a list or mapping"))
        return str(node.value if node.tag == _STR else self.constructor.construct_object(node))

    def _scalar(self, node: ScalarNode, path: PathKey) -> Any:
        # Text is most of a config: taken as is, without the constructor's dispatch.
        value = node.value if node.tag == _STR else self.constructor.construct_object(node)
        if isinstance(value, str):
            if "${" in value:
                self.doc.env_refs[path] = value
            return value
        if isinstance(value, float) and not math.isfinite(value):
            self.issues.append(self.doc.claim(ConfigIssue(
                self._at(node), ".".join(map(str, path)), f"not a finite number: {node.value}")))
            return None
        return value

    def _at(self, node: Node) -> Location:
        mark = node.start_mark
        return Location(self.display, mark.line + 1, mark.column + 1)
