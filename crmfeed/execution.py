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

A field with a resolver but no field extension (no permission classes), no exception handler, on
a type other than the mutation and subscription roots (a feed page's `replies`, `edges`,
`pageInfo`) has its resolver called directly, as strawberry's wrapper would call it (the source as
`self`, `info` and the parent or root where it asks for them), without strawberry's per-call
argument conversion and wrapper chain. Arguments written as scalar literals (`replies(first: 3)`)
are coerced and converted once per document: the converted values (immutable scalars only) are
kept by the field node, which the parse cache keeps the same across requests; arguments with
variables are converted at each call, as strawberry does.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from graphql import GraphQLNonNull, GraphQLObjectType, VariableNode, is_leaf_type
from graphql.execution.executor import to_nodes
from graphql.execution.values import get_argument_values
from graphql.pyutils import Path, Undefined, gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

if TYPE_CHECKING:
    from collections.abc import Callable

    import strawberry
    from graphql import (
        FieldNode,
        GraphQLAbstractType,
        GraphQLField,
        GraphQLLeafType,
        GraphQLOutputType,
        GraphQLResolveInfo,
        GraphQLSchema,
    )
    from graphql.execution.collect_fields import FieldDetails, FieldDetailsList, GroupedFieldSet
    from graphql.pyutils import AwaitableOrValue
    from strawberry.schema.schema_converter import GraphQLCoreConverter
    from strawberry.types.arguments import StrawberryArgument

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
    leaf, object_type, nullable = _completion(return_type)
    return Plain(
        definition.python_name,
        definition.default_resolver,
        leaf,
        object_type,
        nullable,
        return_type,
    )


IMMUTABLE = (int, float, str, bool, type(None), Enum)  # argument values safe to share
MAX_KEPT_ARGUMENTS = 4096  # field nodes whose converted literal arguments are kept


class Resolved(NamedTuple):
    """How to call one field's resolver directly (see the module docstring): the function,
    whether it takes the source first (`self`), the keyword names given the source (parent,
    root) and the Info, its arguments, and how its result completes (as `Plain`'s)."""

    field: StrawberryField
    call: Callable[..., Any]
    takes_self: bool
    source_names: tuple[str, ...]
    info_name: str | None
    arguments: list[StrawberryArgument]
    leaf: GraphQLLeafType | None
    object_type: GraphQLObjectType | None
    nullable: bool
    return_type: GraphQLOutputType


def resolved_fields(
    schema: GraphQLSchema, converter: GraphQLCoreConverter
) -> dict[str, dict[str, Resolved]]:
    """The directly called resolvers of every object type but the mutation and subscription
    roots, by type name and field name."""
    roots = {
        root.name for root in (schema.mutation_type, schema.subscription_type) if root is not None
    }
    found: dict[str, dict[str, Resolved]] = {}
    for type_name, graphql_type in schema.type_map.items():
        if (
            not isinstance(graphql_type, GraphQLObjectType)
            or type_name.startswith("__")
            or type_name in roots
        ):
            continue
        fields = {
            name: resolved
            for name, field in graphql_type.fields.items()
            if (resolved := _resolved(field, converter)) is not None
        }
        if fields:
            found[type_name] = fields
    return found


def _resolved(field: GraphQLField, converter: GraphQLCoreConverter) -> Resolved | None:
    definition = (field.extensions or {}).get(DEFINITION)
    if not isinstance(definition, StrawberryField):
        return None
    resolver = definition.base_resolver
    if (
        resolver is None
        or definition.extensions
        or definition.is_subscription
        or type(definition).get_result is not StrawberryField.get_result
        or not callable(resolver.wrapped_func)
        or converter._get_field_exception_handlers(definition)
        # strawberry's resolver for such a field: no other resolver was put in its place
        or getattr(field.resolve, "__name__", None) not in ("_resolver", "_async_resolver")
    ):
        return None
    leaf, object_type, nullable = _completion(field.type)
    source_names = tuple(
        parameter.name
        for parameter in (resolver.parent_parameter, resolver.root_parameter)
        if parameter is not None
    )
    info = resolver.info_parameter
    return Resolved(
        definition,
        resolver.wrapped_func,
        resolver.self_parameter is not None,
        source_names,
        None if info is None else info.name,
        definition.arguments,
        leaf,
        object_type,
        nullable,
        field.type,
    )


def _completion(
    return_type: GraphQLOutputType,
) -> tuple[GraphQLLeafType | None, GraphQLObjectType | None, bool]:
    """A field type's scalar or enum type, its object type without `is_type_of`, and whether
    it may be null."""
    nullable = not isinstance(return_type, GraphQLNonNull)
    named = return_type if nullable else return_type.of_type
    leaf = named if is_leaf_type(named) else None
    object_type = (
        named if isinstance(named, GraphQLObjectType) and named.is_type_of is None else None
    )
    return leaf, object_type, nullable


class PlainFieldExecution(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor, reading plain fields and calling plain resolvers directly (see
    the module docstring); `for_schema` makes the class for one schema."""

    plain: ClassVar[dict[str, dict[str, Plain | Resolved]]] = {}
    converter: ClassVar[GraphQLCoreConverter | None] = None
    # Converted literal arguments, by the field node's id: (the node, its arguments).
    kept_arguments: ClassVar[dict[int, tuple[FieldNode, dict[str, Any]]]] = {}
    # Resolved types of abstract values, checked: by (abstract type, object type) name.
    runtime_types: ClassVar[dict[tuple[str, str], GraphQLObjectType]] = {}

    @classmethod
    def for_schema(cls, schema: strawberry.Schema) -> type[PlainFieldExecution]:
        graphql_schema = schema._schema
        converter = schema.schema_converter
        fields: dict[str, dict[str, Plain | Resolved]] = {}
        for found in (plain_fields(graphql_schema), resolved_fields(graphql_schema, converter)):
            for type_name, by_name in found.items():
                fields.setdefault(type_name, {}).update(by_name)
        return type(
            cls.__name__,
            (cls,),
            {"plain": fields, "converter": converter, "kept_arguments": {}, "runtime_types": {}},
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:
            self.plain = {}  # a middleware wraps every resolver: let it

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        """graphql-core's, with a plain scalar or enum field read and serialized in the loop:
        its path is made only when it is needed (an error, a null in a non-null field, an
        awaitable)."""
        fields = self.plain.get(parent_type.name)
        if fields is None:
            return super().execute_fields(
                parent_type, source_value, path, grouped_field_set, position_context
            )
        type_name = parent_type.name
        is_awaitable = self.is_awaitable
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        try:
            for response_name, field_details_list in grouped_field_set.items():
                plan = fields.get(field_details_list[0].node.name.value)
                if type(plan) is Plain and plan.leaf is not None:
                    try:
                        value = plan.read(source_value, plan.attribute)
                    except Exception as error:  # completed below, as graphql-core does
                        value = error
                    else:
                        if value is None:
                            if plan.nullable:
                                results[response_name] = None
                                continue
                        elif not is_awaitable(value) and not isinstance(value, Exception):
                            try:
                                coerced = plan.leaf.coerce_output_value(value)
                            except Exception:  # completed again below, which reports it
                                coerced = None
                            if coerced is not None and coerced is not Undefined:
                                results[response_name] = coerced
                                continue
                    result = self._finish(
                        plan,
                        parent_type,
                        field_details_list,
                        Path(path, response_name, type_name),
                        position_context,
                        value,
                        None,
                    )
                else:
                    result = self.execute_field(
                        parent_type,
                        source_value,
                        field_details_list,
                        Path(path, response_name, type_name),
                        position_context,
                    )
                    if result is Undefined:
                        continue
                results[response_name] = result
                if is_awaitable(result):
                    awaitable_fields.append(response_name)
        except Exception:
            if awaitable_fields:
                # as graphql-core: settle what other fields started, they may fail too
                self.settle_in_background([results[field] for field in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def get_results() -> dict[str, Any]:
            if len(awaitable_fields) == 1:
                field = awaitable_fields[0]
                results[field] = await results[field]
            else:
                awaited = await gather_with_cancel(*(results[f] for f in awaitable_fields))
                results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return get_results()

    def complete_value(
        self,
        return_type: GraphQLOutputType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[Any]:
        """graphql-core's, with a non-null value of an object type without `is_type_of` (a
        list's item, mostly) completed at once."""
        if result is not None and isinstance(return_type, GraphQLNonNull):
            named = return_type.of_type
            if (
                isinstance(named, GraphQLObjectType)
                and named.is_type_of is None
                and not isinstance(result, Exception)
            ):
                return self.collect_and_execute_subfields(
                    named, field_details_list, path, result, position_context
                )
        return super().complete_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def ensure_valid_runtime_type(
        self,
        runtime_type_name: Any,
        return_type: GraphQLAbstractType,
        field_details_list: FieldDetailsList,
        info: GraphQLResolveInfo,
        result: Any,
    ) -> GraphQLObjectType:
        """graphql-core's check of an abstract value's resolved type, made once per pair of
        abstract type and type name (it depends on nothing else)."""
        key = (return_type.name, runtime_type_name)
        if type(runtime_type_name) is str and key in self.runtime_types:
            return self.runtime_types[key]
        runtime_type = super().ensure_valid_runtime_type(
            runtime_type_name, return_type, field_details_list, info, result
        )
        if type(runtime_type_name) is str:
            self.runtime_types[key] = runtime_type
        return runtime_type

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        fields = self.plain.get(parent_type.name)
        plan = None if fields is None else fields.get(field_details_list[0].node.name.value)
        if plan is None:
            return super().execute_field(
                parent_type, source, field_details_list, path, position_context
            )
        info = None
        try:
            if type(plan) is Plain:
                value = plan.read(source, plan.attribute)
            else:
                value, info = self._call(plan, parent_type, source, field_details_list, path)
        except Exception as error:  # as graphql-core answers a resolver's error
            if type(plan) is Resolved:  # graphql-core's own handling of a resolver's raise
                self.handle_field_error(error, plan.return_type, field_details_list, path)
                return None
            value = error
        return self._finish(
            plan, parent_type, field_details_list, path, position_context, value, info
        )

    def _finish(
        self,
        plan: Plain | Resolved,
        parent_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
        value: Any,
        info: GraphQLResolveInfo | None,
    ) -> Any:
        """A plain field's value or a resolver's result, completed (an error, raised or
        returned, is graphql-core's to report)."""
        if not isinstance(value, Exception):
            leaf = plan.leaf
            if leaf is not None and value is not None and not self.is_awaitable(value):
                try:
                    coerced = leaf.coerce_output_value(value)
                except Exception:  # completed again below, which reports it
                    coerced = None
                if coerced is not None and coerced is not Undefined:
                    return coerced
            elif value is None:
                if plan.nullable:
                    return None
            elif plan.object_type is not None and not self.is_awaitable(value):
                # what complete_value does for an object type without is_type_of
                try:
                    completed = self.collect_and_execute_subfields(
                        plan.object_type, field_details_list, path, value, position_context
                    )
                except Exception as raw_error:
                    self.handle_field_error(raw_error, plan.return_type, field_details_list, path)
                    return None
                return self._settled(plan.return_type, field_details_list, path, completed)
        return self._complete(parent_type, field_details_list, path, position_context, value, info)

    def _call(
        self,
        plan: Resolved,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
    ) -> tuple[Any, GraphQLResolveInfo | None]:
        """The resolver's result (and the field's resolve info, when it was built)."""
        details = field_details_list[0]
        info: GraphQLResolveInfo | None = None
        given: Any = None  # the Info strawberry gives the resolver
        if plan.info_name is not None or (plan.arguments and not self._kept(details)):
            info = self.build_resolve_info(
                self.schema.get_field(parent_type, details.node.name.value),  # type: ignore[arg-type]
                to_nodes(field_details_list),
                parent_type,
                path,
            )
            assert self.converter is not None  # set with the plans, by for_schema
            given = self.converter.config.info_class(_raw_info=info, _field=plan.field)
        kwargs = self._arguments(plan, parent_type, details, given) if plan.arguments else {}
        for name in plan.source_names:
            kwargs[name] = source
        if plan.info_name is not None:
            kwargs[plan.info_name] = given
        if plan.takes_self:
            return plan.call(source, **kwargs), info
        return plan.call(**kwargs), info

    def _kept(self, details: FieldDetails) -> bool:
        entry = self.kept_arguments.get(id(details.node))
        return entry is not None and entry[0] is details.node

    def _arguments(
        self,
        plan: Resolved,
        parent_type: GraphQLObjectType,
        details: FieldDetails,
        info: strawberry.Info | None,
    ) -> dict[str, Any]:
        """The resolver's converted arguments: kept ones for literals, else as strawberry
        converts them (graphql-core coerces, strawberry converts to Python values)."""
        node = details.node
        entry = self.kept_arguments.get(id(node))
        if entry is not None and entry[0] is node:
            return dict(entry[1])
        field_def = self.schema.get_field(parent_type, node.name.value)
        assert field_def is not None  # the field is in the plan, so in the schema
        assert self.converter is not None  # set with the plans, by for_schema
        coerced = get_argument_values(
            field_def,
            node,
            self.variable_values,
            details.fragment_variable_values,
            self.hide_suggestions,
        )
        converted = convert_arguments(
            coerced,
            plan.arguments,
            scalar_registry=self.converter.scalar_registry,
            config=self.converter.config,
            info=info,
        )
        if (
            details.fragment_variable_values is None
            and not any(
                isinstance(argument.value, VariableNode) for argument in node.arguments or ()
            )
            and all(isinstance(value, IMMUTABLE) for value in converted.values())
        ):
            if len(self.kept_arguments) >= MAX_KEPT_ARGUMENTS:
                self.kept_arguments.clear()
            self.kept_arguments[id(node)] = (node, dict(converted))
        return converted

    def _complete(
        self,
        parent_type: GraphQLObjectType,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
        value: Any,
        info: GraphQLResolveInfo | None = None,
    ) -> AwaitableOrValue[Any]:
        """What graphql-core's `execute_field` does with a resolver's result."""
        field_def = self.schema.get_field(parent_type, field_details_list[0].node.name.value)
        assert field_def is not None  # the field is in the plan, so in the schema
        return_type = field_def.type
        if info is None:
            info = self.build_resolve_info(
                field_def, to_nodes(field_details_list), parent_type, path
            )
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
