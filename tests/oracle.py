"""What the warehouse must hold, computed from the CSV files with nothing but the csv module.

Independent of the SQL under test: same rules (trim, latest `updated_at` wins per key, later file
wins ties, cancelled and returned orders earn nothing), different code.
"""

import csv
from decimal import Decimal
from pathlib import Path

KEYS = {"customers": "customer_id", "orders": "order_id", "products": "product_id"}
# The shipped dbt project's models (dbt/models/marts), and every table a run on the sample fills.
GOLD_MODELS = ("dim_customers", "fct_daily_revenue", "fct_customer_category_revenue", "fct_category_revenue")
WAREHOUSE_TABLES = (*(f"{layer}_{name}" for name in KEYS for layer in ("raw", "slv")), *GOLD_MODELS)


def read_rows(files: list[Path]) -> list[dict]:
    rows = []
    for rank, path in enumerate(files):
        with path.open(newline="", encoding="utf-8-sig") as f:
            for row in csv.DictReader(f):
                rows.append({**row, "_rank": rank})
    return rows


def latest_by_key(rows: list[dict], key: str) -> dict[int, dict]:
    latest: dict[int, dict] = {}
    for row in rows:
        k = int(row[key])
        best = latest.get(k)
        if best is None or (row["updated_at"], row["_rank"]) >= (best["updated_at"], best["_rank"]):
            latest[k] = row
    return latest


def input_files(sample_dir: Path, inbox_dir: Path | None, name: str) -> list[Path]:
    files = [sample_dir / f"sample_{name}.csv"]
    if inbox_dir and inbox_dir.is_dir():
        files += sorted(inbox_dir.glob(f"{name}*.csv"))
    return files


def expected(sample_dir: Path, inbox_dir: Path | None = None) -> dict:
    out = {}
    for name, key in KEYS.items():
        rows = read_rows(input_files(sample_dir, inbox_dir, name))
        latest = latest_by_key(rows, key)
        out[f"raw_{name}"] = len(rows)
        out[f"slv_{name}"] = len(latest)
        out[f"_{name}"] = latest
    revenue = sum(
        (int(o["quantity"]) * Decimal(o["unit_price"]) for o in out["_orders"].values()
         if o["status"].strip().lower() not in ("cancelled", "returned")),
        Decimal(0),
    )
    out["revenue"] = revenue
    out["emails"] = {k: (c["email"].strip().lower() or None) for k, c in out["_customers"].items()}
    return out
