"""Benchmarks run by hand (`python -m runner.bench.<name>`), never by the test suite."""
