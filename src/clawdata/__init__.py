"""clawdata: a data platform in a box (Dagster + DuckDB + dbt)."""
