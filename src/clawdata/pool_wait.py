"""A run waiting for the warehouse pool's slot sleeps, and stops when it is told to.

Dagster 1.13's in-process executor (clawdata's: defs/resources.py) loops until a step's pool slot is
free, sleeping `InstanceConcurrencyContext.interval_to_next_pending_claim_check()` between turns.
That interval is `min([0, *time_to_each_next_check])`: never above 0, so the loop never sleeps. A
run waiting behind another writer took 100 % of a core for as long as it waited (in the stack, the
two runs the pool lets start and wait, each in its own container, took both cores from the run
holding the slot), and nothing in that loop looks at interrupts: Ctrl-C, `kill`, a UI terminate
or a container stop went unheeded until the slot came free.

Replaced here (a private member: no public hook reaches this loop; tests/test_private_apis.py fails
when Dagster changes it): the interval is the time to the next claim check, in turns of at most
0.25 s, and an interrupt received while waiting ends the run as one received at a step does.
"""

import time

from dagster import DagsterExecutionInterruptedError
from dagster._core.execution.plan.instance_concurrency_context import InstanceConcurrencyContext
from dagster._utils.interrupts import check_captured_interrupt

from clawdata import settings

TURN_SECONDS = 0.25  # how soon a waiting run notices an interrupt; a claim check is one query


def _interval_to_next_pending_claim_check(self: InstanceConcurrencyContext) -> float:
    if check_captured_interrupt():
        _stop_waiting(self)
    if not self.has_pending_claims():
        return 0.0
    next_check = min(self._pending_timeouts[step] for step in self.pending_claim_steps())
    return min(TURN_SECONDS, max(0.0, next_check - time.time()))


def _stop_waiting(context: InstanceConcurrencyContext):
    """Dagster's own rule decides how the run ends: CANCELED if its termination was asked (the UI),
    else FAILURE (a stopped container; run retries may take it again). A run the clawdata CLI
    executes in this very process was stopped by its user (Ctrl-C, or `kill`, which the CLI turns
    into one): canceled, as cli/local.py cancels one interrupted at a step."""
    instance, run = context._instance, context._instance.get_run_by_id(context._run_id)
    if run is not None and run.status.value == "STARTED" and run.tags.get(settings.LOCAL_PROCESS_TAG) == settings.this_process():
        instance.report_run_canceling(run, message="Canceled with Ctrl-C in the clawdata CLI, while it waited for the warehouse")
    raise DagsterExecutionInterruptedError(f"interrupted while waiting for the warehouse (pool {settings.WAREHOUSE_POOL})")


InstanceConcurrencyContext.interval_to_next_pending_claim_check = _interval_to_next_pending_claim_check
