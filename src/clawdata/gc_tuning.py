"""Collect cycles less often than Python's default (every 700 allocations in the youngest generation).

Dagster, dagster-dbt and dbt make millions of long-lived objects at import and load, and the default
walks them again and again: a small delivery on the sample (the CLI, start to exit) took 5.1-5.9 s
with these thresholds, 6.0-6.4 s with the default (alternating, same machine). Cycles are still
collected. Imported first by the CLI and by the code location's module; in the user-code image a
`.pth` line imports it at every interpreter start (code server, run workers: Dockerfile), before
Dagster's own imports.
"""

import gc

gc.set_threshold(100_000, 50, 100)
