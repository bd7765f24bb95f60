"""robin_bench.train."""
