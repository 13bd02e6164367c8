"""Sandboxed Jinja rendering: StrictUndefined, HTML autoescaped, text not, within limits.

Templates come from the configuration's snapshot of the templates folder
(config/templates.py: read once when the config is loaded, never from the disk
afterwards), are compiled once per renderer, and are looked up as
``<folder>/<locale>/<part>`` first, then ``<folder>/<part>``. ``.html`` parts are
autoescaped; every ``{{ }}`` in a ``.json`` part is escaped for a JSON string.

Every render runs within ``RenderLimits``: a CPU-time budget per message
(render/budget.py), a size limit per channel on what a part produces (checked as the
output is generated), bounds on the values a template builds (render/sandbox.py)
and Python's recursion limit. Going past one raises ``RenderLimitExceeded``, a
``TemplateProblem`` that names the template file and line.

Error tree::

    TemplateProblem            a template failed to compile or render (file, line, message)
    └── RenderLimitExceeded    .kind: time | output | value | recursion | memory
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2

from channels.base import TemplateProblem
from dispatcher import i18n
from dispatcher.config.templates import TemplateSnapshot, normalize
from dispatcher.render.budget import WATCHDOG, Budget, RenderTimeout
from dispatcher.render.sandbox import LimitedEnvironment, LimitExceeded, RenderLimits

__all__ = ["RenderLimitExceeded", "RenderLimits", "TemplateProblem", "TemplateRenderer"]


@dataclass(frozen=True)
class RenderLimitExceeded(TemplateProblem):
    """A render ran past a limit: too long, too large, too deep. The message is the
    template's fault, not the customer's: fail or pause the campaign."""

    kind: str = ""  # "time" | "output" | "value" | "recursion" | "memory"


def _json_string(value: Any) -> str:
    return json.dumps(str(value), ensure_ascii=False)[1:-1]


@jinja2.pass_context
def _json_output(context: Any, value: Any) -> str:
    return _json_string(i18n.localize(context, value))  # amounts in the text's language


class _SnapshotLoader(jinja2.BaseLoader):
    def __init__(self, snapshot: TemplateSnapshot) -> None:
        self.snapshot = snapshot

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str, Any]:
        try:
            source = self.snapshot.source(template)
        except ValueError as exc:
            raise jinja2.TemplateNotFound(template, f"{template}: {exc}") from None
        if source is None:
            raise jinja2.TemplateNotFound(template)
        filename = str(self.snapshot.root / (normalize(template) or template))
        return source, filename, lambda: True  # a snapshot never changes


class _Current(threading.local):
    """The budget of the message being composed on this thread (``message()``); a class
    default, so reading it when unset costs no AttributeError."""

    budget: Budget | None = None


_current = _Current()


class TemplateRenderer:
    def __init__(self, templates: TemplateSnapshot, limits: RenderLimits | None = None) -> None:
        if not isinstance(templates, TemplateSnapshot):
            # A path would mean reading the disk again: the daemon must render what
            # it validated. Pass ``loaded.templates``.
            raise TypeError("TemplateRenderer renders a TemplateSnapshot (loaded.templates), "
                            f"not {type(templates).__name__}")
        self.templates = templates
        self.root = templates.root
        self.limits = limits or RenderLimits()
        self.env = LimitedEnvironment(
            self.limits,
            loader=_SnapshotLoader(templates),
            undefined=jinja2.StrictUndefined,
            autoescape=lambda name: bool(name and name.endswith(".html")),
            keep_trailing_newline=False,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        i18n.register(self.env)  # plural(), money, amounts in the text's language
        # Same loader, sandbox, limits and filters; every output escaped for a JSON string.
        self._json_env = self.env.overlay(finalize=_json_output, autoescape=False)
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

    def find(self, folder: str, part: str, locale: str | None) -> str | None:
        """The name of the template a render would use (None: there is none)."""
        return next((n for n in self.candidates(folder, part, locale)
                     if self.templates.has(n)), None)

    def template(self, folder: str, part: str, locale: str | None) -> jinja2.Template | None:
        key = (folder, part, locale)
        if key not in self._cache:
            self._cache[key] = self._compile(folder, part, locale)
        return self._cache[key]

    def _compile(self, folder: str, part: str, locale: str | None) -> jinja2.Template | None:
        name = self.find(folder, part, locale)
        if name is None:
            return None
        env = self._json_env if part.endswith(".json") else self.env
        try:
            return env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(exc.filename or str(self.root / name), exc.lineno,
                                  f"syntax error: {exc.message}") from None
        except jinja2.TemplateNotFound as exc:  # there, but not usable (not UTF-8, ...)
            raise TemplateProblem(str(self.root / name), None, exc.message or "") from None

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
        return self._render(template, context, self.limits.output_limit(part), folder, part)

    def render_inline(self, source: str, context: dict[str, Any], where: str,
                      part: str = "email.subject") -> str:
        """Render a template written in config.yaml; ``where`` names it in errors."""
        try:
            template = self.inline(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateProblem(where, None, f"syntax error: {exc.message}") from None
        return self._render(template, context, self.limits.output_limit(part), where)

    def message(self) -> _MessageBudget:
        """``with renderer.message():`` one time budget for every part rendered inside
        (a message's parts)."""
        return _MessageBudget(self.limits.time_budget)

    def all_parts(self, folder: str) -> list[Path]:
        return [self.root / name for name in self.templates.names_under(folder)]

    # -- rendering within the limits ----------------------------------------------------

    def _render(self, template: jinja2.Template, context: dict[str, Any], limit: int,
                where: str, part: str = "") -> str:
        """``where`` (with ``part``: a folder and its part) names the template in errors."""
        budget = _current.budget or WATCHDOG.budget(self.limits.time_budget)
        try:
            try:
                WATCHDOG.arm(budget)
                try:
                    return _generate(template, context, limit)
                finally:
                    WATCHDOG.disarm(budget)
            except RenderTimeout:
                WATCHDOG.disarm(budget)  # it may have arrived inside the first disarm
                raise
        except (Exception, RenderTimeout) as exc:
            fallback = f"{self.root / where}/{part}" if part else where
            raise self._problem(exc, template, fallback) from None

    def _problem(self, exc: BaseException, template: jinja2.Template,
                 where: str) -> TemplateProblem:
        if isinstance(exc, TemplateProblem):
            return exc
        if isinstance(exc, jinja2.TemplateSyntaxError):  # an include that does not compile
            return TemplateProblem(exc.filename or where, exc.lineno,
                                   f"syntax error: {exc.message}")
        file, line = _located(exc, template.filename or where)
        if isinstance(exc, LimitExceeded):
            return RenderLimitExceeded(file, line, exc.message, exc.kind)
        if isinstance(exc, RenderTimeout):
            return RenderLimitExceeded(
                file, line, f"rendering took more than the {self.limits.time_budget:g}s "
                            f"time budget of a message (a loop that does not end?)", "time")
        if isinstance(exc, RecursionError):
            return RenderLimitExceeded(file, line, "recursion too deep (a macro or include "
                                                   "that calls itself?)", "recursion")
        if isinstance(exc, MemoryError):
            return RenderLimitExceeded(file, line, "out of memory while rendering", "memory")
        return TemplateProblem(file, line, _describe(exc))


class _MessageBudget:
    # A plain context manager: contextlib's would rewrite the __traceback__ of the
    # (frozen) TemplateProblem passing through it.
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.owner = False

    def __enter__(self) -> None:
        if _current.budget is None:  # else: already inside a message
            _current.budget = WATCHDOG.budget(self.seconds)
            self.owner = True

    def __exit__(self, *exc_info: object) -> None:
        if self.owner:
            _current.budget = None


def _generate(template: jinja2.Template, context: dict[str, Any], limit: int) -> str:
    """``template.render(context)``, stopping as soon as the output passes ``limit``."""
    parts: list[str] = []
    size = 0
    for chunk in template.root_render_func(template.new_context(context)):
        size += len(chunk)
        if size > limit:
            raise LimitExceeded("output", f"the rendered text is over the limit of {limit} "
                                          f"characters for this channel")
        parts.append(chunk)
    return "".join(parts)


def _located(exc: BaseException, fallback: str) -> tuple[str, int | None]:
    """The template file and line where ``exc`` was raised (the innermost template)."""
    found: tuple[str, int | None] = (fallback, None)
    tb: TracebackType | None = exc.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_globals.get("__jinja_template__")
        if owner is not None:
            found = (owner.filename or fallback, owner.get_corresponding_lineno(tb.tb_lineno))
        tb = tb.tb_next
    return found


def _describe(exc: BaseException) -> str:
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined variable: {exc.message}"
    if isinstance(exc, jinja2.exceptions.SecurityError):
        return f"not allowed in templates: {exc}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return (f"template not found: {exc.message or exc.name} (names are relative to the "
                f"templates folder, and cannot leave it)")
    if isinstance(exc, jinja2.TemplateError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
