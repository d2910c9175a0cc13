"""The GraphQL shape: types, inputs, enums, permissions and the Schema (no logic here)."""
