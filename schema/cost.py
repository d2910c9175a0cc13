"""A query cost limit: every field costs 1, times the page sizes of the lists around it.

`first` arguments multiply the cost of what is selected inside them (a variable or a missing
`first` on a connection counts as the largest page). Introspection is free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    ValidationRule,
)
from strawberry.extensions import AddValidationRules

if TYPE_CHECKING:
    from graphql import FragmentDefinitionNode, SelectionSetNode, ValidationContext

CONNECTION_SUFFIX = "Connection"


def create_cost_rule(max_cost: int, max_page_size: int) -> type[ValidationRule]:
    class CostRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments: dict[str, FragmentDefinitionNode] = {
                f.name.value: f
                for f in context.document.definitions
                if f.kind == "fragment_definition"  # type: ignore[attr-defined]
            }

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            cost = self._cost(node.selection_set, 1, set())
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"This query would cost {cost}, above the limit of {max_cost}: ask for "
                        "smaller pages or fewer fields.",
                        extensions={"code": "LIMIT_EXCEEDED", "cost": cost, "maxCost": max_cost},
                    )
                )

        def _cost(self, selection_set: SelectionSetNode | None, factor: int, seen: set[str]) -> int:
            if selection_set is None:
                return 0
            total = 0
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    if selection.name.value.startswith("__"):
                        continue
                    total += factor
                    total += self._cost(
                        selection.selection_set, factor * self._page(selection), seen
                    )
                elif isinstance(selection, InlineFragmentNode):
                    total += self._cost(selection.selection_set, factor, seen)
                elif isinstance(selection, FragmentSpreadNode):
                    name = selection.name.value
                    fragment = self.fragments.get(name)
                    if fragment is not None and name not in seen:
                        total += self._cost(fragment.selection_set, factor, seen | {name})
            return total

        def _page(self, field: FieldNode) -> int:
            for argument in field.arguments or ():
                if argument.name.value == "first":
                    if isinstance(argument.value, IntValueNode):
                        return max(1, min(int(argument.value.value), max_page_size))
                    return max_page_size
            if field.selection_set and any(
                isinstance(s, FieldNode) and s.name.value == "edges"
                for s in field.selection_set.selections
            ):
                return 20
            return 1

    return CostRule


class MaxCostLimiter(AddValidationRules):
    """Refuse operations whose estimated cost exceeds `max_cost`."""

    def __init__(self, max_cost: int, max_page_size: int = 100) -> None:
        super().__init__([create_cost_rule(max_cost, max_page_size)])
