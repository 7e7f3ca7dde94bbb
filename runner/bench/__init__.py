"""Benchmarks: `mkdrill bench` runs them all (runner.bench.run); never part of the test suite."""
