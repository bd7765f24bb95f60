"""robin_bench.bench."""
