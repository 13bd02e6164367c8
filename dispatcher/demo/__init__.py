"""The synthetic shop behind ``dispatcher demo`` and the benchmarks."""
