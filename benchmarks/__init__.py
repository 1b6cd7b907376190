"""clawdata's benchmark suite: `make bench` (or `python -m benchmarks.run --help`).

- throughput.py  `clawdata dagster materialize --all` against the floor (floor.py: the same SQL in one
                 DuckDB process), per data size, plus the second (incremental) run
- deliveries.py  INCREMENTAL DELIVERIES: one small daily delivery through the inbox sensor against its
                 floor (delivery_floor.py); the files from delivery_data.py
- stack.py       the Docker Compose stack: start to healthy and loaded, run launch latency, image sizes
- measure.py     wall time, CPU time and peak memory of a whole process tree
- report.py      the table, the JSON; chart.py the PNG (drawn with the standard library only)

Every figure is the median of several runs with min and max. The machines are shared and noisy: the
ratio of two things measured in the same repetition is the figure that counts.
"""
