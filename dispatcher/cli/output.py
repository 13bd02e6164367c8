"""The one way the command line writes to a terminal, a pipe or a log.

Everything printed is text as written: rich markup (``[bold]``) and emoji codes
(``:100:``) are never interpreted, so ``config.yaml:100:14`` and a customer named
``[b]Olena`` print as they are. Control characters that come with data (ESC, NUL,
a carriage return) are shown escaped (``\\x1b``), never sent raw to the terminal.

Lines of text are never hard-wrapped (the terminal wraps them; a URL stays one
piece to copy). When the output is not a terminal (a pipe, a file, a log), tables
take the width their content needs instead of being cut at 80 columns.
"""

from __future__ import annotations

import re
from typing import IO, Any

from rich.console import Console, ConsoleDimensions
from rich.rule import Rule
from rich.text import Text

# Tables in a pipe are as wide as their content; this only bounds a runaway cell.
UNBOUNDED_WIDTH = 10_000
RULE_WIDTH = 80

# C0 controls but tab and line feed, DEL and the C1 controls: they move the cursor,
# recolour or rewrite the terminal (ESC [ ...), or are invisible (NUL).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """``text`` with every control character but tab and newline written as ``\\xNN``."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class PlainConsole(Console):
    """A rich Console that prints text as written (see the module docstring)."""

    def __init__(self, *, stderr: bool = False, file: IO[str] | None = None) -> None:
        super().__init__(stderr=stderr, file=file, markup=False, emoji=False,
                         highlight=False, soft_wrap=True)

    @property
    def size(self) -> ConsoleDimensions:
        size = super().size
        if self.is_terminal:
            return size
        return ConsoleDimensions(UNBOUNDED_WIDTH, size.height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self._width, self._height = new_size

    def print(self, *objects: Any, **kwargs: Any) -> None:
        if objects and not all(isinstance(o, str) for o in objects):
            # A table fits the terminal (or its content, in a pipe); only text soft-wraps.
            kwargs.setdefault("soft_wrap", False)
        super().print(*objects, **kwargs)

    def render_str(self, text: str, **kwargs: Any) -> Text:
        # Every string on its way out (printed text, table cells, titles) passes here.
        return super().render_str(escape_controls(text), **kwargs)

    def rule(self, title: str = "", **kwargs: Any) -> None:  # type: ignore[override]
        """A horizontal line with a title, at most 80 columns wide."""
        self.print(Rule(title, **kwargs),
                   width=min(self.width, RULE_WIDTH))


def make_console(*, stderr: bool = False, file: IO[str] | None = None) -> PlainConsole:
    return PlainConsole(stderr=stderr, file=file)
