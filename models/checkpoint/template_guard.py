"""Chat templates are untrusted code from a checkpoint: bound the memory a template can make Jinja allocate.

transformers renders chat templates in Jinja's `ImmutableSandboxedEnvironment`, which stops code execution but not
allocation: `{{ 'a' * 4000000000 }}` builds a 4 GB string (at compile time even, by constant folding). `install()`
makes transformers compile every chat template in `GuardedSandbox` instead, which

- intercepts `*`, `+`, `%`, `**` and `~` and refuses a result over MAX_VALUE_CHARS (sequences) or MAX_POWER_BITS (ints)
  before it is built (an intercepted operator is never constant-folded);
- refuses calls and filters given a whole number over MAX_ARGUMENT or a format width/precision over it, and
  estimates the few string operations whose result can dwarf their inputs (replace, join, expandtabs, indent,
  wordwrap) before running them;
- counts every value it lets through against MAX_RENDER_CHARS per render, and stops a render whose output passes
  MAX_RENDER_CHARS.

A refusal raises `jinja2.exceptions.SecurityError` naming the limit. Known gap: a template can still loop for a long
time without allocating (nested `range(100000)` loops); Jinja's sandbox has no step counter.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_VALUE_CHARS = 4_000_000  # one string or sequence a template builds
MAX_RENDER_CHARS = 32_000_000  # everything one render builds, output included
MAX_ARGUMENT = 1_000_000  # whole-number arguments (widths, counts) and format widths
MAX_POWER_BITS = 100_000
_FORMAT_NUMBER = re.compile(r"\d{7,}")  # a width or precision of 1,000,000 or more inside a format string

_render = threading.local()  # chars left in the current render (None outside a render)


def _refuse(what: str) -> SecurityError:
    return SecurityError(f"the chat template tried to build {what}; refused to protect memory")


def _size(value: Any) -> int | None:
    return len(value) if isinstance(value, (str, bytes, list, tuple, dict)) else None


def _charge(size: int) -> None:
    if size > MAX_VALUE_CHARS:
        raise _refuse(f"a value of {size:,} items (the limit is {MAX_VALUE_CHARS:,})")
    left = getattr(_render, "left", None)
    if left is not None:
        left -= size
        if left < 0:
            raise _refuse(f"more than {MAX_RENDER_CHARS:,} characters in one render")
        _render.left = left


def _check_arguments(args: Iterable[Any], kwargs: Mapping[str, Any]) -> None:
    values = [*args, *kwargs.values()]
    for container in [v for v in values if isinstance(v, (list, tuple, dict))]:  # format_map's mapping, % tuples
        values.extend(list(container.values() if isinstance(container, dict) else container)[:1000])
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_ARGUMENT:
            raise _refuse(f"something from the number {value:,} (arguments are limited to {MAX_ARGUMENT:,})")


def _check_format_string(text: Any) -> None:
    if isinstance(text, str) and _FORMAT_NUMBER.search(text):
        raise _refuse("a string with a format width of a million or more")


def _estimate(name: str, target: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """Result size of the string operations that can grow far beyond their inputs; 0 when not one of them."""
    if not isinstance(target, str):
        return 0
    if name == "replace" and len(args) >= 2 and isinstance(args[0], str) and isinstance(args[1], str):
        count = target.count(args[0]) if args[0] else len(target) + 1
        return len(target) + count * max(len(args[1]) - len(args[0]), 0)
    if name == "join" and args:
        parts = list(args[0]) if isinstance(args[0], (list, tuple, str)) else []
        return sum(len(str(p)) for p in parts) + len(target) * max(len(parts) - 1, 0)
    if name == "expandtabs":
        width = args[0] if args else kwargs.get("tabsize", 8)
        return len(target) + target.count("\t") * (width if isinstance(width, int) else 8)
    inserted = sum(len(v) for v in (*args, *kwargs.values()) if isinstance(v, str))
    if name == "indent":  # the indent string goes before every line
        return len(target) + (target.count("\n") + 1) * inserted
    if name == "wordwrap":  # the wrap string can go after every character
        return len(target) * (1 + inserted)
    return 0


class _GuardedFilters(dict):
    """Filters dict that wraps every filter (transformers adds `tojson` after the environment is built)."""

    def __setitem__(self, name: str, function: Any) -> None:
        super().__setitem__(name, _guard_filter(name, function))


def _guard_filter(name: str, function: Any) -> Any:
    @functools.wraps(function)  # keeps jinja's pass_context / pass_environment marks
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _check_arguments(args, kwargs)
        values = [a for a in args if isinstance(a, (str, list, tuple, dict))]
        if name == "format" and values:
            _check_format_string(values[0])
        if values:
            _charge(_estimate(name, values[0], tuple(args[args.index(values[0]) + 1 :]), kwargs))
        result = function(*args, **kwargs)
        size = _size(result)
        if size is not None:
            _charge(size)
        return result

    return guarded


class _GuardedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to `environment.guarded_join(...)`, which counts what it builds (Jinja's own is unchecked)."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile or frame.eval_ctx.autoescape:
            super().visit_Concat(node, frame)  # markup joins; transformers never turns autoescape on
            return
        self.write("environment.guarded_join((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class GuardedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, with allocation bounded (see the module docstring)."""

    intercepted_binops = frozenset({"*", "+", "%", "**"})
    code_generator_class = _GuardedCodeGenerator

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        stock = self.filters
        self.filters = _GuardedFilters()
        for name, function in stock.items():
            self.filters[name] = function

    def guarded_join(self, values: Iterable[Any]) -> str:
        parts = [str(value) for value in values]
        _charge(sum(len(part) for part in parts))
        return "".join(parts)

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "*":
            for sequence, times in ((left, right), (right, left)):
                if _size(sequence) is not None and isinstance(times, int):
                    _charge(_size(sequence) * max(times, 0))
        elif operator_name == "+" and _size(left) is not None and _size(right) is not None:
            _charge(_size(left) + _size(right))
        elif operator_name == "%" and isinstance(left, str):
            _check_format_string(left)
            _check_arguments(right if isinstance(right, tuple) else (right,), {})
        elif operator_name == "**" and isinstance(left, int) and isinstance(right, int) and right > 0:
            bits = right * math.log2(abs(left) + 1)
            if bits > MAX_POWER_BITS:
                raise _refuse(f"a number of about {bits:,.0f} bits")
        result = super().call_binop(context, operator_name, left, right)
        if operator_name == "%" and isinstance(result, str):
            _charge(len(result))
        return result

    def wrap_str_format(self, value: Any) -> Any:
        """str.format is wrapped when it is looked up, before `call`: check its format string there."""
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format_string(value.__self__)
        return wrapped

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _check_arguments(args, kwargs)
        name = getattr(obj, "__name__", "")
        target = getattr(obj, "__self__", None)
        _charge(_estimate(name, target, args, kwargs))
        result = super().call(context, obj, *args, **kwargs)
        size = _size(result)
        if size is not None:
            _charge(size)
        return result

    def concat(self, parts: Iterable[str]) -> str:  # type: ignore[override]
        """Jinja's `"".join` for a render's output, counting against the render's budget as it goes."""
        outermost = getattr(_render, "left", None) is None
        if outermost:
            _render.left = MAX_RENDER_CHARS
        try:
            out: list[str] = []
            for part in parts:
                _charge(len(part))
                out.append(part)
            return "".join(out)
        finally:
            if outermost:
                _render.left = None


_installed = threading.Lock()


def install() -> None:
    """Make transformers compile chat templates in GuardedSandbox from now on (idempotent)."""
    from transformers.utils import chat_template_utils

    with _installed:
        if chat_template_utils.ImmutableSandboxedEnvironment is GuardedSandbox:
            return
        chat_template_utils.ImmutableSandboxedEnvironment = GuardedSandbox
        chat_template_utils._compile_jinja_template.cache_clear()  # templates compiled before were not guarded


__all__ = ["GuardedSandbox", "install", "MAX_VALUE_CHARS", "MAX_RENDER_CHARS", "MAX_ARGUMENT"]
