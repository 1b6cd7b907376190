"""Run inside a stack container (`python - ROUNDS < this file`): WORKERS threads claim a slot of a
one-slot pool at the same instant through the instance's own event log storage, as run workers do;
prints JSON: the storage class, and how many rounds ended with more than one holder, or none."""

import json
import sys
import threading

from dagster import DagsterInstance

WORKERS, KEY = 6, "clawdata_test_claim_probe"  # a pool of its own: the warehouse pool is untouched

storage = DagsterInstance.get().event_log_storage
rounds, holders_per_round = int(sys.argv[1]), []
storage.set_concurrency_slots(KEY, 1)
try:
    for r in range(rounds):
        start, holders = threading.Barrier(WORKERS), []

        def claim(run_id: str) -> None:
            start.wait()
            if storage.claim_concurrency_slot(KEY, run_id, "step").is_claimed:
                holders.append(run_id)

        threads = [threading.Thread(target=claim, args=(f"probe-{r}-{i}",)) for i in range(WORKERS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        holders_per_round.append(len(holders))
        for i in range(WORKERS):
            storage.free_concurrency_slots_for_run(f"probe-{r}-{i}")
finally:
    storage.delete_concurrency_limit(KEY)
print(json.dumps({"storage": type(storage).__name__, "rounds": rounds,
                  "several_holders": sum(n > 1 for n in holders_per_round),
                  "no_holder": sum(n == 0 for n in holders_per_round)}))
