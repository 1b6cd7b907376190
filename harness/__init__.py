"""Harnesses shared by the tests and the benchmarks (neither imports the other): compose.py drives one
Docker Compose stack under a name of its own."""
