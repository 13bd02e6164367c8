"""Benchmarks: ratios against references measured on the same machine (see bench/run)."""
