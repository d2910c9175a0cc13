"""Benchmarks (run as modules, e.g. `python -m bench.records_bench`); not part of the service."""
