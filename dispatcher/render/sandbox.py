"""The Jinja sandbox our templates run in, with a bound on every value a template builds.

Jinja's ``ImmutableSandboxedEnvironment`` keeps templates away from Python's
internals; this adds sizes. A template may build a string or list of at most
``RenderLimits.value_chars`` characters/items and integers of at most
``RenderLimits.int_digits`` digits. The checks sit where a value can grow by more
than its inputs: ``*`` (``'a' * 10**8``), ``**`` (``9 ** 999999``), ``+``, ``~``,
``%`` and ``.format`` widths (``'%999999999d'``), ``range``, and the filters and
string methods that multiply (``join``, ``replace``, ``center``, ``indent``, ...).
Each is a few comparisons; a normal template pays for the operators it uses, not per
node. Whatever else runs too long is stopped by the time budget (render/budget.py),
and what is written out by the output limit (templating.py).
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame, optimizeconst
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import generate_lorem_ipsum

KIB = 1024
MIB = 1024 * KIB


def _default_outputs() -> dict[str, int]:
    # Characters one template part may produce, per channel. Well above what each
    # channel delivers (its own checks still apply: SMS segments, Telegram's 4096
    # characters, push's 4096 encrypted bytes), far below a 137 MB email.
    return {"email": MIB, "sms": 16 * KIB, "telegram": 64 * KIB, "push": 16 * KIB}


@dataclass(frozen=True)
class RenderLimits:
    time_budget: float = 1.0  # CPU seconds for one message (all of its parts)
    output_chars: Mapping[str, int] = field(default_factory=_default_outputs)
    default_output_chars: int = MIB  # a part of no known channel
    value_chars: int = MIB  # the largest string or list a template may build
    int_digits: int = 4300  # Python's own limit for printing an integer
    max_range: int = 100_000  # items in range(): Jinja's sandbox limit

    def output_limit(self, part: str) -> int:
        return self.output_chars.get(part.split(".", 1)[0], self.default_output_chars)


class LimitExceeded(Exception):
    """A template built or wrote more than a limit allows (raised inside the render)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # "value" | "output" | "time" | "recursion" | "memory"
        self.message = message


def deep_size(value: Any, budget: int) -> int:
    """Characters ``str(value)`` would have, roughly, counting at most ``budget``."""
    if isinstance(value, (str, bytes)):
        return len(value)
    if isinstance(value, (list, tuple, set, frozenset, dict)):
        total = len(value)
        items = value.items() if isinstance(value, dict) else value
        for item in items:
            total += deep_size(item, budget - total)
            if total > budget:
                break
        return total
    return 1


class LimitedEnvironment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, limits: RenderLimits, **options: Any) -> None:
        super().__init__(**options)
        self.limits = limits
        self.code_generator_class = _SizedConcat
        self.globals["range"] = self._range
        self.globals["lipsum"] = self._lipsum
        for name, check in _FILTER_CHECKS.items():
            self.filters[name] = _guard_filter(self, self.filters[name], check)
        self._int_bits = int(limits.int_digits * 3.33)

    # -- what templates can call ---------------------------------------------------------

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            self._check_repeat(left, right)
        elif operator == "**":
            self._check_power(left, right)
        elif operator == "%" and isinstance(left, str):
            check_percent_widths(self, left, right)
        elif operator == "+" and _is_sized(left) and _is_sized(right):
            self.check_size(deep_size(left, self.limits.value_chars)
                            + deep_size(right, self.limits.value_chars), "+")
        return self.binop_table[operator](left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check = _METHOD_CHECKS.get(getattr(__obj, "__name__", ""))
        if check is not None:
            receiver = getattr(getattr(__obj, "__wrapped__", __obj), "__self__", None)
            if receiver is not None and not isinstance(receiver, type):
                check(__self, receiver, args, kwargs)
        return __self.sized(super().call(__context, __obj, *args, **kwargs))

    def sized(self, value: Any) -> Any:
        if _is_sized(value) and len(value) > self.limits.value_chars:
            self.check_size(len(value), "a call")
        return value

    def sized_concat(self, parts: tuple[Any, ...], join: Callable[[Any], str]) -> str:
        """``a ~ b``: sized before joining."""
        limit = self.limits.value_chars
        total = 0
        for part in parts:
            total += deep_size(part, limit)
            if total > limit:
                self.check_size(total, "~")
        return join(parts)

    def check_size(self, size: int, what: str) -> None:
        if size > self.limits.value_chars:
            raise LimitExceeded("value", f"{what} would build a value of more than "
                                         f"{self.limits.value_chars} characters or items "
                                         f"(the most a template may build)")

    def check_width(self, width: Any, what: str) -> None:
        if isinstance(width, int) and width > self.limits.value_chars:
            self.check_size(width, what)

    def _check_repeat(self, left: Any, right: Any) -> None:
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > self._int_bits:
                self._too_many_digits("*")
            return
        for sequence, times in ((left, right), (right, left)):
            if _is_sized(sequence) and isinstance(times, int) and times > 1:
                self.check_size(deep_size(sequence, self.limits.value_chars) * times, "*")

    def _check_power(self, base: Any, exponent: Any) -> None:
        if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 \
                and abs(base) > 1 and (abs(base).bit_length() - 1) * exponent > self._int_bits:
            self._too_many_digits("**")

    def _too_many_digits(self, what: str) -> None:
        raise LimitExceeded("value", f"{what} would make a number of more than "
                                     f"{self.limits.int_digits} digits")

    def _range(self, *args: int) -> range:
        numbers = range(*args)
        if len(numbers) > self.limits.max_range:
            raise LimitExceeded("value", f"range() of {len(numbers)} numbers; at most "
                                         f"{self.limits.max_range}")
        return numbers

    def _lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        self.check_size(int(n) * int(max) * 12, "lipsum()")
        return generate_lorem_ipsum(n, html, min, max)


class _SizedConcat(CodeGenerator):
    """``a ~ b`` compiles to ``environment.sized_concat((a, b), str_join)`` (Jinja's own
    code for it, with the join handed to ``LimitedEnvironment.sized_concat``)."""

    @optimizeconst
    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write("environment.sized_concat((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write(f"), {join})")


def _is_sized(value: Any) -> bool:
    return isinstance(value, (str, bytes, list, tuple, dict, set, frozenset))


# -- format widths -------------------------------------------------------------------------

_PERCENT = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?[a-zA-Z%]")
_DIGITS = re.compile(r"\d+")


def check_percent_widths(env: LimitedEnvironment, text: str, values: Any) -> None:
    """``'%999999999d' % 1`` would allocate the width before anything can stop it."""
    for match in _PERCENT.finditer(text):
        for number in match.groups():
            if number == "*":
                items = values if isinstance(values, tuple) else (values,)
                for item in items:
                    env.check_width(item, "a % width")
            elif number is not None:
                env.check_width(int(number) if len(number) < 12 else 10 ** 12, "a % width")


def check_format_widths(env: LimitedEnvironment, text: str, args: tuple[Any, ...],
                        kwargs: Mapping[str, Any]) -> None:
    """``'{:>999999999}'.format(1)``: the same for str.format."""
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        return  # Python reports the malformed format itself
    for _literal, _name, spec, _conversion in fields:
        if not spec:
            continue
        for number in _DIGITS.findall(spec):
            env.check_width(int(number) if len(number) < 12 else 10 ** 12, "a format width")
        if "{" in spec:  # a width taken from the arguments
            for value in (*args, *kwargs.values()):
                env.check_width(value, "a format width")


# -- str / bytes / int methods -----------------------------------------------------------


def _method_width(env: LimitedEnvironment, receiver: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> None:
    for value in (*args[:1], *kwargs.values()):
        env.check_width(value, "a width")


def _method_expandtabs(env: LimitedEnvironment, receiver: Any, args: tuple[Any, ...],
                       kwargs: dict[str, Any]) -> None:
    size = args[0] if args else kwargs.get("tabsize", 8)
    if _is_sized(receiver) and isinstance(size, int):
        env.check_size(len(receiver) + receiver.count("\t" if isinstance(receiver, str)
                                                      else b"\t") * size, "expandtabs()")


def _method_replace(env: LimitedEnvironment, receiver: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> None:
    if len(args) >= 2 and _is_sized(receiver):
        check_replace(env, receiver, args[0], args[1], args[2] if len(args) > 2 else -1)


def _method_join(env: LimitedEnvironment, receiver: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> None:
    if args and isinstance(args[0], (list, tuple)) and _is_sized(receiver):
        check_join(env, receiver, args[0])


def _method_format(env: LimitedEnvironment, receiver: Any, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> None:
    if isinstance(receiver, str):
        if args and isinstance(args[0], Mapping) and not kwargs:  # format_map
            check_format_widths(env, receiver, (), args[0])
        else:
            check_format_widths(env, receiver, args, kwargs)


_METHOD_CHECKS: dict[str, Callable[[LimitedEnvironment, Any, tuple[Any, ...], dict[str, Any]],
                                   None]] = {
    "center": _method_width, "ljust": _method_width, "rjust": _method_width,
    "zfill": _method_width, "to_bytes": _method_width, "expandtabs": _method_expandtabs,
    "replace": _method_replace, "join": _method_join, "format": _method_format,
    "format_map": _method_format,
}


def check_replace(env: LimitedEnvironment, text: Any, old: Any, new: Any, count: Any) -> None:
    if not (_is_sized(old) and _is_sized(new)) or len(new) <= len(old):
        return
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    env.check_size(len(text) + hits * (len(new) - len(old)), "replace()")


def check_join(env: LimitedEnvironment, separator: Any, items: Any) -> None:
    limit = env.limits.value_chars
    total = len(separator) * max(0, len(items) - 1)
    for item in items:
        total += deep_size(item, limit)
        if total > limit:
            break
    env.check_size(total, "join")


# -- filters ---------------------------------------------------------------------------------


def _filter_center(env: LimitedEnvironment, value: Any, width: Any = 80) -> None:
    env.check_width(width, "center")


def _filter_indent(env: LimitedEnvironment, s: Any, width: Any = 4, *args: Any,
                   **kwargs: Any) -> None:
    step = len(width) if isinstance(width, str) else width
    if isinstance(step, int):
        lines = str(s).count("\n") + 1
        env.check_size(len(str(s)) + lines * step, "indent")


def _filter_replace(env: LimitedEnvironment, s: Any, old: Any, new: Any,
                    count: Any = None) -> None:
    check_replace(env, str(s), old, new, -1 if count is None else count)


def _filter_format(env: LimitedEnvironment, value: Any, *args: Any, **kwargs: Any) -> None:
    check_percent_widths(env, str(value), tuple(kwargs.values()) or args)


def _filter_wordwrap(env: LimitedEnvironment, s: Any, width: Any = 79, *args: Any,
                     **kwargs: Any) -> None:
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
    if isinstance(wrapstring, str) and isinstance(width, int):
        env.check_size(len(str(s)) * (1 + len(wrapstring) // max(1, width)), "wordwrap")


def _filter_batch(env: LimitedEnvironment, value: Any, linecount: Any, *args: Any) -> None:
    env.check_width(linecount, "batch")


def _filter_slice(env: LimitedEnvironment, value: Any, slices: Any, *args: Any) -> None:
    env.check_width(slices, "slice")


def _filter_join(env: LimitedEnvironment, value: Any, d: Any = "",
                 attribute: Any = None) -> list[Any]:
    items = list(value)  # a generator is consumed once, here; the filter gets the list
    if attribute is None and _is_sized(d):
        check_join(env, d, items)
    return items


# Each check raises LimitExceeded, or returns a replacement for the filter's value.
_FILTER_CHECKS: dict[str, Callable[..., Any]] = {
    "center": _filter_center, "indent": _filter_indent, "replace": _filter_replace,
    "format": _filter_format, "wordwrap": _filter_wordwrap, "batch": _filter_batch,
    "slice": _filter_slice, "join": _filter_join,
}


def _guard_filter(env: LimitedEnvironment, real: Callable[..., Any],
                  check: Callable[..., Any]) -> Callable[..., Any]:
    # Filters marked @pass_eval_context / @pass_environment get that first argument.
    skip = 1 if getattr(real, "jinja_pass_arg", None) is not None else 0

    @functools.wraps(real)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        value = check(env, *args[skip:], **kwargs)
        if value is not None:
            args = (*args[:skip], value, *args[skip + 1:])
        return env.sized(real(*args, **kwargs))

    return guarded
