"""Moved to harness/compose.py (shared with the benchmarks); re-exported for the tests' imports."""
from harness.compose import *  # noqa: F401,F403
