"""After a restore, Dagster's records are made to agree with the restored warehouse (deploy/backup.sh
runs this in a container of the user-code image, on the stack's instance):

    python -m clawdata.cli.reconcile BACKUP_NAME

A backup pairs a dump of Dagster's records, which may describe runs after the replica's publish,
with that published replica. Restoring trusts the warehouse: what it holds decides.
- Runs that were going at the dump are canceled (not failed: Dagster's automatic retry would run
  them again on a state they never saw), with the reason, and their warehouse slots are freed.
- Every asset whose table lives in the warehouse gets a materialization of its own, saying what the
  restored warehouse holds: its rows, or that its table is not in the backup (bronze, rebuilt from
  the restored inbox by the next run). It carries no data version, so the next run rebuilds each
  layer from the files instead of keeping what later records claimed; `status` says the same.
"""

import sys

import dagster as dg

from clawdata import settings

IN_FLIGHT = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
             dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def reconcile(instance: dg.DagsterInstance, backup: str) -> list[str]:
    said = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_FLIGHT)):
        run = record.dagster_run
        instance.report_run_canceled(run, message=f"Interrupted by the restore of backup {backup}: "
                                                  "the warehouse went back to before this run's remaining steps")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        # status and the UI say why (the run may have ended well after the backup: its record went back)
        instance.add_run_tags(run.run_id, {settings.CANCELED_BY_TAG: f"the restore of backup {backup}"})
        said.append(f"run {run.run_id[:8]} ({run.job_name}) was going at the backup: canceled")

    from clawdata.definitions import defs
    from clawdata.warehouse.readers import read_only
    from clawdata.warehouse.tables import row_count

    graph = defs.resolve_asset_graph()
    tables = {}
    with read_only(settings.warehouse_path()) as conn:
        present = {f"{s}.{t}" for s, t in conn.execute(
            "SELECT schema_name, table_name FROM duckdb_tables() WHERE database_name = 'warehouse' UNION ALL "
            "SELECT schema_name, view_name FROM duckdb_views() WHERE database_name = 'warehouse' AND NOT internal").fetchall()}
        for key in graph.materializable_asset_keys:
            table = str(graph.get(key).metadata.get("dagster/table_name") or "")
            if table:
                schema, _, name = table.rpartition(".")
                relation = f"{schema or 'main'}.{name}"
                # (a view that no longer binds, what it read not in the backup, is rebuilt as a missing table is)
                tables[key] = (relation, row_count(conn, schema or "main", name) if relation in present else None)
    # Upstream first: Dagster tells an asset older than what it reads by these records' order, and a
    # restored gold table is no older than the restored silver it was built from.
    order = {key: i for i, key in enumerate(graph.toposorted_asset_keys)}
    for key, (relation, rows) in sorted(tables.items(), key=lambda item: (order.get(item[0], len(order)), item[0])):
        metadata = {settings.RESTORED_FROM: backup, "table": relation}
        if rows is None:
            metadata[settings.RESTORE_NOTE] = "not in the backup: the next run rebuilds it"
        else:
            metadata["dagster/row_count"] = dg.MetadataValue.int(rows)
        instance.report_runless_asset_event(dg.AssetMaterialization(
            asset_key=key, description=f"Restored from backup {backup}", metadata=metadata))
    said.append(f"{len(tables)} assets marked as restored ({sum(r is None for _, r in tables.values())} "
                "to be rebuilt from the inbox); the inbox sensor's next tick rebuilds every layer from the "
                "restored files")
    return said


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m clawdata.cli.reconcile BACKUP_NAME")
    with dg.DagsterInstance.get() as instance:
        for line in reconcile(instance, sys.argv[1]):
            print(line)
