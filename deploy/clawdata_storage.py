"""Dagster's Postgres event log, with a pool slot that only one step can claim.

The warehouse pool has one slot, and the design rests on it: no two steps of different runs write
the DuckDB file at once. Dagster 1.13 claims a slot in two statements on an autocommit connection:
a `SELECT ... FOR UPDATE SKIP LOCKED` for a free slot (its row lock ends with that statement), then
an `UPDATE ... WHERE id = <that slot>` that does not check the slot is still free. Two run workers
claiming at the same instant both read the free slot and both write it: both steps run. Measured
on `make up` (6 workers claiming a 1-slot pool at once, 100 rounds): 15 and 27 rounds ended with
two holders; with this class, 0 (tests/stack/test_concurrency.py keeps measuring it).

The fix is one condition: the UPDATE takes the slot only while it is free, so Postgres serialises
the two writes on the row and the second finds it taken. The loser's step stays assigned and
retries its claim, as any blocked step does. Baked into both images (the run workers claim, the
daemon frees) and named in dagster.yaml as the event log storage.
"""

from dagster._core.storage.event_log.schema import ConcurrencySlotsTable
from dagster._core.storage.sqlalchemy_compat import db_select
from dagster._utils.concurrency import ConcurrencySlotStatus
from dagster_postgres.event_log import PostgresEventLogStorage
from dagster_postgres.utils import get_token_provider_from_config, pg_url_from_config
from sqlalchemy import and_


class ClawdataEventLogStorage(PostgresEventLogStorage):
    @classmethod
    def from_config_value(cls, inst_data, config_value) -> "ClawdataEventLogStorage":
        # The parent's returns a PostgresEventLogStorage whatever the class named in dagster.yaml.
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
        )

    def _claim_concurrency_slot(self, concurrency_key: str, run_id: str, step_key: str) -> ConcurrencySlotStatus:
        slots = ConcurrencySlotsTable.c
        free = and_(slots.concurrency_key == concurrency_key, slots.step_key.is_(None), slots.deleted.is_(False))
        with self.index_connection() as conn:
            slot = conn.execute(db_select([slots.id]).where(free).limit(1)).scalar()
            if slot is None:
                return ConcurrencySlotStatus.BLOCKED
            taken = conn.execute(
                ConcurrencySlotsTable.update().where(and_(slots.id == slot, free)).values(run_id=run_id, step_key=step_key)
            ).rowcount
        return ConcurrencySlotStatus.CLAIMED if taken else ConcurrencySlotStatus.BLOCKED
