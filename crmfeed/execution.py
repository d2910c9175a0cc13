"""Plain fields executed without graphql-core's and strawberry's per-field machinery.

A field with no resolver, no arguments and no field extension (strawberry's "basic field": most
of a feed page's fields, read from attributes set when the object was made) answers
`getattr(source, name)`. graphql-core still builds a 16-slot resolve info for it, calls
strawberry's wrapper (which calls the field's `get_result`, which calls the default resolver),
asks whether the value is awaitable and completes it through `complete_value` twice (non-null,
then leaf). The executor below (graphql-core's documented hook, passed to strawberry's
`Schema(execution_context_class=...)`) reads such a field itself: a scalar or enum value is
serialized at once, an object of a type without `is_type_of` has its selection executed at once;
anything else (a list, an interface, an awaitable, null, an error) goes on through
graphql-core's own completion, with the value already read, so answers and errors are the same
as without it (tests/test_plain_fields.py compares them). With an extension that wraps
resolvers (a `resolve` hook) nothing is read this way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from graphql import GraphQLNonNull, GraphQLObjectType, is_leaf_type
from graphql.execution.executor import to_nodes
from graphql.pyutils import Undefined
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.field import StrawberryField

if TYPE_CHECKING:
    from collections.abc import Callable

    from graphql import GraphQLField, GraphQLLeafType, GraphQLOutputType, GraphQLSchema
    from graphql.execution.collect_fields import FieldDetailsList
    from graphql.pyutils import AwaitableOrValue, Path

DEFINITION = "strawberry-definition"  # where strawberry keeps a GraphQL field's StrawberryField


class Plain(NamedTuple):
    """How to read one plain field: its attribute, through the schema's default resolver;
    its scalar or enum type when it is one, its object type when it is one that needs no
    `is_type_of` check (else None: a list, an interface), and whether it may be null."""

    attribute: str
    read: Callable[[Any, str], Any]
    leaf: GraphQLLeafType | None
    object_type: GraphQLObjectType | None
    nullable: bool
    return_type: GraphQLOutputType


def plain_fields(schema: GraphQLSchema) -> dict[str, dict[str, Plain]]:
    """The plain fields of every object type, by type name and field name."""
    found: dict[str, dict[str, Plain]] = {}
    for type_name, graphql_type in schema.type_map.items():
        if not isinstance(graphql_type, GraphQLObjectType) or type_name.startswith("__"):
            continue
        fields = {
            name: plain
            for name, field in graphql_type.fields.items()
            if (plain := _plain(field)) is not None
        }
        if fields:
            found[type_name] = fields
    return found


def _plain(field: GraphQLField) -> Plain | None:
    definition = (field.extensions or {}).get(DEFINITION)
    resolve = field.resolve
    if (
        not isinstance(definition, StrawberryField)
        or not definition.is_basic_field
        or field.args
        or definition.python_name is None
        # strawberry's resolver for a basic field (no resolver, no extension, no exception
        # handler); any other resolver is left to run
        or getattr(resolve, "__name__", None) != "_get_basic_result"
    ):
        return None
    return_type = field.type
    nullable = not isinstance(return_type, GraphQLNonNull)
    named = return_type if nullable else return_type.of_type
    leaf = named if is_leaf_type(named) else None
    object_type = (
        named if isinstance(named, GraphQLObjectType) and named.is_type_of is None else None
    )
    return Plain(
        definition.python_name,
        definition.default_resolver,
        leaf,
        object_type,
        nullable,
        return_type,
    )


class PlainFieldExecution(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, reading plain fields directly (see the module docstring);
    `for_schema` makes the class for one schema."""

    plain: ClassVar[dict[str, dict[str, Plain]]] = {}

    @classmethod
    def for_schema(cls, schema: GraphQLSchema) -> type[PlainFieldExecution]:
        return type(cls.__name__, (cls,), {"plain": plain_fields(schema)})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:
            self.plain = {}  # a middleware wraps every resolver: let it

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        fields = self.plain.get(parent_type.name)
        plain = None if fields is None else fields.get(field_details_list[0].node.name.value)
        if plain is None:
            return super().execute_field(
                parent_type, source, field_details_list, path, position_context
            )
        try:
            value = plain.read(source, plain.attribute)
        except Exception as error:  # as graphql-core answers a resolver's error
            value = error
        else:
            leaf = plain.leaf
            if leaf is not None and value is not None and not self.is_awaitable(value):
                try:
                    coerced = leaf.coerce_output_value(value)
                except Exception:  # completed again below, which reports it
                    coerced = None
                if coerced is not None and coerced is not Undefined:
                    return coerced
            elif value is None:
                if plain.nullable:
                    return None
            elif (
                plain.object_type is not None
                and not self.is_awaitable(value)
                and not isinstance(value, Exception)
            ):
                # what complete_value does for an object type without is_type_of
                try:
                    completed = self.collect_and_execute_subfields(
                        plain.object_type, field_details_list, path, value, position_context
                    )
                except Exception as raw_error:
                    self.handle_field_error(raw_error, plain.return_type, field_details_list, path)
                    return None
                return self._settled(plain.return_type, field_details_list, path, completed)
        return self._complete(parent_type, field_details_list, path, position_context, value)

    def _complete(
        self,
        parent_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
        value: Any,
    ) -> AwaitableOrValue[Any]:
        """What graphql-core's `execute_field` does with a resolver's result."""
        field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
        assert field_def is not None  # the field is in the plan, so in the schema
        return_type = field_def.type
        info = self.build_resolve_info(field_def, to_nodes(field_details_list), parent_type, path)
        try:
            if self.is_awaitable(value):
                return self.complete_awaitable_value(
                    return_type, field_details_list, info, path, value, position_context
                )
            completed = self.complete_value(
                return_type, field_details_list, info, path, value, position_context
            )
        except Exception as raw_error:
            self.handle_field_error(raw_error, return_type, field_details_list, path)
            return None
        return self._settled(return_type, field_details_list, path, completed)

    def _settled(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        path: Path,
        completed: Any,
    ) -> AwaitableOrValue[Any]:
        """A completed value, or an awaitable of it whose error is the field's."""
        if not self.is_awaitable(completed):
            return completed

        async def await_completed() -> Any:
            try:
                return await completed
            except Exception as raw_error:
                self.handle_field_error(raw_error, return_type, field_details_list, path)
                return None

        return await_completed()
