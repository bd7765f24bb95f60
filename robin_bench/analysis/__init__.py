"""robin_bench.analysis."""
