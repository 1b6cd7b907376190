"""clawdata's benchmark suite: `make bench` (or `python -m benchmarks.run --help`). See README.md here.

- run.py          the command line: runs the sections, writes latest.json, latest.txt and the chart
- core.py         the measured runs: `clawdata` as a subprocess (wall, CPU, peak memory of the process
                  tree), read back from its event log, and the floor (the same SQL in one DuckDB process)
- datasets.py     the generated data and the deliveries on top of it
- throughput.py   THROUGHPUT: materialize --all against the floor, per size (and where the time goes)
- incremental.py  INCREMENTAL: a second run, inputs unchanged
- replica.py      REPLICA: one publish of the read path, per size
- startup.py      START-UP: what a command pays before any data moves
- deliveries.py   INCREMENTAL DELIVERIES: one small daily delivery through the inbox sensor, against its floor
- stack.py        STACK: the Docker Compose stack (start-up, run launch, queue wait, images)
- targets.py      TARGETS: every target with its measured value; the sample's own figures
- fmt.py, chart.py  the table's formatting, the chart (matplotlib)

Every figure is the median of several runs with min and max. The machines are shared and noisy: the
ratio of two things measured in the same repetition is the figure that counts.
"""
