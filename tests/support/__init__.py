"""Helpers shared by the test suite and the benchmarks (bench/): free loopback ports and
a throwaway PostgreSQL server. Nothing here depends on pytest."""
