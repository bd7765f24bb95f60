"""robin_bench.data."""
