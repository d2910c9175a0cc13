"""What happens behind each query, mutation and field: one module per domain."""
