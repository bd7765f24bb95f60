"""robin_bench.estimators."""
