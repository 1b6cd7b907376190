"""A reader outside the stack: queries gold on the replica in a loop until a line arrives on stdin,
then prints one JSON document with every read (run in a container that mounts the replica read-only).

Each read opens the current version, checks the gold models' cross-table invariant (it breaks on
any mixture of versions) and closes; no retries, so any wait or error would show."""

import json
import select
import sys
import time

import duckdb

PATH = sys.argv[1]
INVARIANT = """
SELECT (SELECT generation FROM clawdata_replica.snapshot),
       (SELECT sum(revenue) FROM fct_daily_revenue)::VARCHAR,
       (SELECT sum(revenue) FROM fct_daily_revenue)
     = (SELECT sum(lifetime_value) FROM dim_customers)
     + (SELECT coalesce(sum(amount), 0) FROM silver.slv_orders WHERE status NOT IN ('cancelled', 'returned')
          AND customer_id NOT IN (SELECT customer_id FROM silver.slv_customers))
"""
reads, errors = [], []
print("reading", flush=True)
while not select.select([sys.stdin], [], [], 0)[0]:
    started, wall = time.monotonic(), time.time()
    try:
        conn = duckdb.connect()
        conn.execute("ATTACH ? AS warehouse (READ_ONLY)", [PATH])
        conn.execute("USE warehouse")
        generation, revenue, consistent = conn.execute(INVARIANT).fetchall()[0]
        conn.close()
        reads.append([wall, time.monotonic() - started, generation, revenue, consistent])
    except Exception as e:  # counted, never retried
        errors.append([wall, f"{type(e).__name__}: {e}"])
    time.sleep(0.05)
print(json.dumps({"reads": reads, "errors": errors}), flush=True)
