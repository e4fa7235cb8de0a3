"""Benchmarks: measured figures of the add-on, recorded in BENCHMARKS.md."""
