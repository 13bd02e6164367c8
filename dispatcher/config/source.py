"""Read YAML while remembering where every key and value came from.

ruamel.yaml's round-trip loader keeps line/column for each node; we flatten the
document into plain Python data plus a map from path tuple to Location, so that
pydantic's error paths can be turned back into ``file:line:col``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from .errors import ConfigIssue, Location

PathKey = tuple[str | int, ...]
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class LocatedDocument:
    """Plain data + where each path was written."""

    def __init__(self) -> None:
        self.locations: dict[PathKey, Location] = {}

    def locate(self, path: PathKey) -> Location | None:
        """The location of ``path`` or of its nearest located ancestor."""
        for cut in range(len(path), -1, -1):
            loc = self.locations.get(tuple(path[:cut]))
            if loc is not None:
                return loc
        return None


def load_yaml(file: Path, display: str, doc: LocatedDocument, issues: list[ConfigIssue],
              prefix: PathKey = ()) -> Any:
    """Parse ``file``; record locations under ``prefix``; substitute ``${ENV}`` references."""
    yaml = YAML(typ="rt")
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        where = ".".join(map(str, prefix))
        issues.append(ConfigIssue(None, where, f"cannot read {display}: {exc.strerror}"))
        return None
    try:
        node = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(display, mark.line + 1, mark.column + 1) if mark else Location(display, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        issues.append(ConfigIssue(loc, "", f"invalid YAML: {problem}"))
        return None
    doc.locations.setdefault(prefix, Location(display, 1, 1))
    return _plain(node, prefix, display, doc, issues)


def _plain(node: Any, path: PathKey, display: str, doc: LocatedDocument,
           issues: list[ConfigIssue]) -> Any:
    if isinstance(node, CommentedMap):
        out: dict[str, Any] = {}
        for key in node:
            child_path = (*path, str(key))
            try:
                line, col = node.lc.value(key)
                if node[key] is None or isinstance(node[key], (CommentedMap, CommentedSeq)):
                    line, col = node.lc.key(key)
            except (KeyError, TypeError):
                line, col = node.lc.line, node.lc.col
            doc.locations[child_path] = Location(display, line + 1, col + 1)
            out[str(key)] = _plain(node[key], child_path, display, doc, issues)
        return out
    if isinstance(node, CommentedSeq):
        items = []
        for index, item in enumerate(node):
            child_path = (*path, index)
            try:
                line, col = node.lc.item(index)
                doc.locations[child_path] = Location(display, line + 1, col + 1)
            except (KeyError, TypeError, IndexError):
                pass
            items.append(_plain(item, child_path, display, doc, issues))
        return items
    if isinstance(node, str):
        return _substitute_env(str(node), path, doc, issues)
    return node


def _substitute_env(value: str, path: PathKey, doc: LocatedDocument,
                    issues: list[ConfigIssue]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in os.environ:
            return os.environ[name]
        if default is not None:
            return default
        issues.append(ConfigIssue(doc.locate(path), ".".join(map(str, path)),
                                  f"environment variable {name} is not set"))
        return ""

    return _ENV_REF.sub(replace, value)
