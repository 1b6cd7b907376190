"""The audits that guard bronze and silver: run on the staged table before it is published, and
reported as the asset's checks (see warehouse/publish.py)."""

from clawdata.defs.ingest.sources import Source
from clawdata.warehouse.publish import Audit


def _rows_present() -> Audit:
    return Audit(
        "rows_present",
        "The table has at least one row.",
        "SELECT count(*) > 0, count(*) || ' rows' FROM {table}",
    )


def raw_audits(source: Source) -> list[Audit]:
    return [
        _rows_present(),
        Audit(
            f"{source.key}_not_null",
            f"Every delivered row has a {source.key}.",
            f"SELECT count(*) = 0, count(*) || ' rows without {source.key}' "
            f"FROM {{table}} WHERE {source.key} IS NULL",
            per_row=True,
        ),
    ]


def silver_audits(source: Source) -> list[Audit]:
    null_counts = " + ".join(f"count(*) FILTER (WHERE {c} IS NULL)" for c in source.required)
    return [
        _rows_present(),
        Audit(
            f"{source.key}_unique",
            f"One row per {source.key} after deduplication.",
            f"SELECT count(*) = count(DISTINCT {source.key}), "
            f"(count(*) - count(DISTINCT {source.key})) || ' duplicated keys' FROM {{table}}",
            # A merge deletes every key it writes before inserting them: unique merged rows keep the
            # whole table unique, so a merge checks only those (no rescan of the table).
            per_row=True,
        ),
        Audit(
            "required_not_null",
            f"Required columns are filled: {', '.join(source.required)}.",
            f"SELECT ({null_counts}) = 0, ({null_counts}) || ' null values in required columns' "
            f"FROM {{table}}",
            per_row=True,
        ),
        Audit(
            "row_count_sane",
            f"Deduplication keeps exactly one row per distinct {source.key} of bronze (a merge: per merged key).",
            f"SELECT n = d, n || ' rows for ' || d || ' distinct keys in bronze' FROM "
            f"(SELECT (SELECT count(*) FROM {{table}}) AS n, (SELECT count(DISTINCT {source.key}) FROM {source.bronze}) AS d)",
            merge_sql=f"SELECT n = d, n || ' merged rows for ' || d || ' merged keys in bronze' FROM "
                      f"(SELECT (SELECT count(*) FROM {{table}}) AS n, (SELECT count(DISTINCT {source.key}) FROM {source.bronze} "
                      f"WHERE {source.key} IN (SELECT {source.key} FROM {{keys}})) AS d)",
        ),
    ]
