"""Every text value of a request is checked once, before any resolver runs: at most
`max_length` characters (MAX_STRING_LENGTH), and valid text: no lone UTF-16 surrogate (it cannot
be encoded, so no database can store or compare it) and no NUL (PostgreSQL refuses it in text).

Literals in the document are checked by a validation rule, so the answer is cached with the
document's validation; variables are checked by an extension on each operation, everywhere in
them (inside `JSON` values too, keys included). Both name the argument or input field and
answer BAD_USER_INPUT. Tighter limits that the domain has (a name, an email, a feed item's
content, a name filter) are the resolvers' own, with their own messages.

    rules = [input_text_rule(max_length=10_000)]
    extensions = [..., ValidationCache, lambda: InputTextLimits(max_length=10_000)]
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from graphql import (
    ArgumentNode,
    GraphQLError,
    ObjectFieldNode,
    ValidationRule,
    VariableDefinitionNode,
)
from strawberry.extensions import SchemaExtension

from resolvers.errors import BadUserInput

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from graphql import StringValueNode

NOT_TEXT = re.compile("[\x00\ud800-\udfff]")


def text_problem(value: str, max_length: int) -> str | None:
    """What is wrong with `value` as a text input, or None."""
    if len(value) > max_length:
        return f"is {len(value):,} characters long; text may be at most {max_length:,} characters"
    if value.isascii() and "\x00" not in value:  # the common case, without the regex
        return None
    found = NOT_TEXT.search(value)
    if found is None:
        return None
    char = found.group()
    what = "a NUL character" if char == "\x00" else "a lone UTF-16 surrogate"
    return f"is not valid text: it contains {what} (U+{ord(char):04X})"


def input_text_rule(max_length: int) -> type[ValidationRule]:
    """A validation rule refusing string literals that `text_problem` finds fault with."""

    class InputTextRule(ValidationRule):
        def enter_string_value(
            self, node: StringValueNode, _key: Any, parent: Any, _path: Any, ancestors: Any
        ) -> None:
            problem = text_problem(node.value, max_length)
            if problem is None:
                return
            names = [
                f"${ancestor.variable.name.value}"
                if isinstance(ancestor, VariableDefinitionNode)
                else ancestor.name.value
                for ancestor in [*ancestors, parent]
                if isinstance(ancestor, ArgumentNode | ObjectFieldNode | VariableDefinitionNode)
            ]
            extensions = {"code": BadUserInput.code}
            if names:
                extensions["field"] = names[-1].lstrip("$")
            message = f"{'.'.join(names) or 'A text literal'} {problem}."
            self.report_error(GraphQLError(message, node, extensions=extensions))

    return InputTextRule


def variable_problem(variables: Mapping[str, Any], max_length: int) -> BadUserInput | None:
    """The first text in `variables` (at any depth, keys included) that is not fit to use."""
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), variables)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            problem = text_problem(value, max_length)
            if problem is not None:
                fields = [step for step in path if isinstance(step, str)]
                return BadUserInput(f"{_path_text(path)} {problem}.", field=fields[-1])
        elif isinstance(value, dict):
            for key, item in value.items():
                problem = text_problem(key, max_length) if isinstance(key, str) else None
                if problem is not None:
                    where = _path_text(path) if path else "The variables"
                    return BadUserInput(f"{where} have a key that {problem}.")
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in enumerate(value))
    return None


def _path_text(path: tuple[str | int, ...]) -> str:
    """`$input.relatedTo[2]` for ("input", "relatedTo", 2)."""
    text = f"${path[0]}"
    for step in path[1:]:
        text += f"[{step}]" if isinstance(step, int) else f".{step}"
    return text


class InputTextLimits(SchemaExtension):
    """Refuses an operation whose variables hold text that `text_problem` finds fault with.

    It adds its error to the validation errors, so it must come after ValidationCache, which
    sets them; an operation with validation errors does not run.
    """

    def __init__(self, *, max_length: int) -> None:
        self.max_length = max_length

    def on_validate(self) -> Iterator[None]:  # type: ignore[override]
        context = self.execution_context
        if context.variables:
            problem = variable_problem(context.variables, self.max_length)
            if problem is not None:
                context.pre_execution_errors = [*(context.pre_execution_errors or ()), problem]
        yield
