"""Configuration errors, each located in a file.

Error tree::

    ConfigError                  raised once with every problem found
    └── .issues: list[ConfigIssue]   file, line, column, dotted path, message
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Location:
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class ConfigIssue:
    location: Location | None
    path: str
    message: str
    severity: str = "error"  # "error" | "warning"

    def __str__(self) -> str:
        where = f"{self.location} " if self.location else ""
        path = f"{self.path}: " if self.path else ""
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{where}{prefix}{path}{self.message}"


class ConfigError(Exception):
    """The configuration (or a template it names) is invalid; ``issues`` lists every problem."""

    def __init__(self, issues: list[ConfigIssue]) -> None:
        self.issues = sorted(
            issues, key=lambda i: (i.location or Location("", 0, 0), i.path, i.message)
        )
        super().__init__("\n".join(str(i) for i in self.issues))
