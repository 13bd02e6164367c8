"""Sandboxed Jinja rendering: StrictUndefined, HTML autoescaped, text not.

Templates are compiled once per renderer (one renderer per run) and looked up as
``<folder>/<locale>/<part>`` first, then ``<folder>/<part>``.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from . import i18n


@dataclass(frozen=True)
class TemplateProblem(Exception):
    """A template failed to compile or render; names the file and line."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class TemplateRenderer:
    def __init__(self, templates_dir: Path) -> None:
        self.root = Path(templates_dir)
        self.env = ImmutableSandboxedEnvironment(
            loader=jinja2.FileSystemLoader(str(self.root)),
            undefined=jinja2.StrictUndefined,
            autoescape=lambda name: bool(name and name.endswith(".html")),
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        i18n.register(self.env)  # plural(), money, amounts in the text's language
        self._cache: dict[tuple[str, str, str | None], jinja2.Template | None] = {}
        self._inline: dict[str, jinja2.Template] = {}

    def candidates(self, folder: str, part: str, locale: str | None) -> list[str]:
        names = []
        if locale:
            names.append(f"{folder}/{locale}/{part}")
            language = locale.split("-")[0].split("_")[0]
            if language != locale:
                names.append(f"{folder}/{language}/{part}")
        names.append(f"{folder}/{part}")
        return names

    def template(self, folder: str, part: str, locale: str | None) -> jinja2.Template | None:
        key = (folder, part, locale)
        if key not in self._cache:
            self._cache[key] = self._compile(folder, part, locale)
        return self._cache[key]

    def _compile(self, folder: str, part: str, locale: str | None) -> jinja2.Template | None:
        for name in self.candidates(folder, part, locale):
            if (self.root / name).is_file():
                try:
                    return self.env.get_template(name)
                except jinja2.TemplateSyntaxError as exc:
                    raise TemplateProblem(str(self.root / name), exc.lineno,
                                          f"syntax error: {exc.message}") from None
        return None

    def inline(self, source: str) -> jinja2.Template:
        """A template written in config.yaml (an A/B subject), compiled once per run."""
        if source not in self._inline:
            self._inline[source] = self.env.from_string(source)
        return self._inline[source]

    def has(self, folder: str, part: str, locale: str | None = None) -> bool:
        return self.template(folder, part, locale) is not None

    def render(self, folder: str, part: str, locale: str | None,
               context: dict[str, Any]) -> str | None:
        template = self.template(folder, part, locale)
        if template is None:
            return None
        try:
            return template.render(context)
        except jinja2.TemplateError as exc:
            filename = template.filename or f"{folder}/{part}"
            raise TemplateProblem(filename, _template_line(exc, filename),
                                  _describe(exc)) from None

    def all_parts(self, folder: str) -> list[Path]:
        base = self.root / folder
        return sorted(p for p in base.rglob("*") if p.is_file()) if base.is_dir() else []


def _template_line(exc: BaseException, filename: str) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line


def _describe(exc: jinja2.TemplateError) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined variable: {exc.message}"
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"not allowed in templates: {exc}"
    return str(exc)
