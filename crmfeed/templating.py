"""Jinja2 in its immutable sandbox: print and mail templates written by users cannot reach
Python internals, change the values they are given, or run unbounded (`range` is capped by
the sandbox; what a render produces is capped here)."""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

MAX_SOURCE = 100_000  # characters of a template
MAX_OUTPUT = 1_000_000  # characters a render may produce


class TemplateProblem(ValueError):
    """A template that does not compile or fails to render, said for its author."""


@cache
def environment(*, html: bool) -> ImmutableSandboxedEnvironment:
    """HTML templates escape every value (a record named <b> prints as text); mail is text."""
    return ImmutableSandboxedEnvironment(
        autoescape=html, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False
    )


def check(source: str, *, html: bool) -> None:
    """TemplateProblem unless the source compiles."""
    if len(source) > MAX_SOURCE:
        raise TemplateProblem(f"a template may be at most {MAX_SOURCE:,} characters.")
    try:
        environment(html=html).parse(source)
    except TemplateSyntaxError as error:
        raise TemplateProblem(f"line {error.lineno}: {error.message}") from None


def render(source: str, variables: dict[str, Any], *, html: bool) -> str:
    check(source, html=html)
    try:
        out = environment(html=html).from_string(source).render(variables)
    except SecurityError as error:
        raise TemplateProblem(f"the template tried something unsafe: {error}") from None
    except TemplateError as error:
        raise TemplateProblem(f"the template failed: {error}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as error:
        raise TemplateProblem(f"the template failed: {type(error).__name__}: {error}") from None
    if len(out) > MAX_OUTPUT:
        raise TemplateProblem(f"the template produced more than {MAX_OUTPUT:,} characters.")
    return out
