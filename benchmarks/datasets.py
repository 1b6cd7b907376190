"""The input data: generated datasets, made once per (customers, seed) and reused, and the small files
delivered on top of them.

- A dataset lives in `benchmarks/.work/data/customers-N-seed-S/` with a marker file written last (an
  interrupted generation is redone) that records the generator's source hash (a changed generator
  makes the data again).
- A delivery (INCREMENTAL DELIVERIES) is `customers_dNNN.csv` (1,000 rows: 70% later versions of
  existing customer_ids, 30% new ids above every id the base data uses) and `orders_dNNN.csv` (5,000
  rows: 80% new order_ids, 20% later versions of existing orders, which keep their customer, product,
  date and quantity), dated 2027-01-01 + N - 1, after every timestamp of the base data. Every row
  references existing customers (1..N) and products (1..P), never the base's orphan ids. Made in DuckDB
  from generate.py's own macros and id arithmetic, never from the base CSV: milliseconds per delivery
  at any size, the same bytes for the same (customers, seed, N) (the delivery's seed is (seed, N)).
- `changed_customers`: a few existing customers of a sample, changed (TARGETS' small delivery).
"""

import hashlib
import json
import time
from pathlib import Path

MARKER = ".complete.json"
FILES = ("sample_customers.csv", "sample_orders.csv", "sample_products.csv")


def _generator_hash() -> str:
    from clawdata.sample_data import generate

    return hashlib.sha256(Path(generate.__file__).read_bytes()).hexdigest()[:16]


def dataset(work: Path, customers: int, seed: int = 42, log=print) -> dict:
    """The folder for (customers, seed), generated if needed; returns the marker's content plus `dir`."""
    folder = work / "data" / f"customers-{customers}-seed-{seed}"
    marker = folder / MARKER
    generator = _generator_hash()
    if marker.exists():
        info = json.loads(marker.read_text())
        if info.get("generator") == generator and all((folder / f).is_file() for f in FILES):
            return {**info, "dir": str(folder), "reused": True}
        marker.unlink()
    from clawdata.sample_data.generate import generate

    log(f"generating {customers:,} customers (seed {seed}) into {folder} ...")
    t0 = time.perf_counter()
    rows = generate(folder, customers=customers, seed=seed)
    info = {"customers": customers, "seed": seed, "rows": rows, "bytes": sum((folder / f).stat().st_size for f in FILES),
            "generate_s": round(time.perf_counter() - t0, 1), "generator": generator}
    marker.write_text(json.dumps(info, indent=1))
    return {**info, "dir": str(folder), "reused": False}


DELIVERIES = 30
CUSTOMERS_PER_DELIVERY, CUSTOMER_UPDATES = 1000, 0.7
ORDERS_PER_DELIVERY, ORDER_UPDATES = 5000, 0.2
FIRST_DAY = "2027-01-01"


def _customers_sql(n: int, d: int) -> str:
    from clawdata.sample_data import generate as g

    updates = min(round(CUSTOMERS_PER_DELIVERY * CUSTOMER_UPDATES), n)
    new = CUSTOMERS_PER_DELIVERY - updates
    first_new = n + max(100, n // 20) + 1 + (d - 1) * new  # above the base orders' orphan customer ids
    cities, countries, dial = (g._list([c[i] for c in g.CITIES]) for i in range(3))
    return f"""
        WITH drawn AS (
            SELECT 1 + hm(hd(j, 'customer'), {n}) AS customer_id, min(j) AS j FROM range({4 * updates}) t(j) GROUP BY ALL
        ),
        ids AS (
            (SELECT customer_id, j, true AS is_update FROM drawn ORDER BY j LIMIT {updates})
            UNION ALL SELECT {first_new} + j, {4 * updates} + j, false FROM range({new}) t(j)
        ),
        c AS (
            SELECT *, hm(hd(customer_id, 'city'), {len(g.CITIES)}) AS ci,
                pick({g._list(g.FIRST_NAMES)}, h(customer_id, 'customer.first')) AS fname,
                pick({g._list(g.LAST_NAMES)}, h(customer_id, 'customer.last')) AS lname
            FROM ids
        )
        SELECT
            customer_id,
            ws(fname, hd(customer_id, 'first_ws')) AS first_name,
            ws(lname, hd(customer_id, 'last_ws')) AS last_name,
            CASE WHEN hd(customer_id, 'email_blank') % 100 < 3 THEN NULL
                 ELSE lower(regexp_replace(strip_accents(fname || '.' || lname), '[^A-Za-z.]', '', 'g')) || '.{d}@'
                      || pick({g._list(g.EMAIL_DOMAINS)}, hd(customer_id, 'domain')) END AS email,
            '+' || {dial}[1 + ci] || lpad(CAST(hm(hd(customer_id, 'phone'), 10000000000) AS VARCHAR), 10, '0') AS phone,
            ws({cities}[1 + ci], hd(customer_id, 'city_ws')) AS city,
            CASE WHEN hd(customer_id, 'country') % 10 = 0 THEN lower({countries}[1 + ci]) ELSE {countries}[1 + ci] END AS country,
            strftime(CASE WHEN is_update THEN signup(customer_id) ELSE delivery_day() END, '%Y-%m-%d') AS signup_date,
            strftime(delivery_day() + secs(hm(hd(customer_id, 'time'), 86400)), '%Y-%m-%d %H:%M:%S') AS updated_at
        FROM c ORDER BY j
    """


def _orders_sql(n: int, d: int) -> str:
    from clawdata.sample_data import generate as g

    updates = round(ORDERS_PER_DELIVERY * ORDER_UPDATES)
    new = ORDERS_PER_DELIVERY - updates
    base = g.ORDERS_PER_CUSTOMER * n
    quantities = g._list(g.QUANTITIES)
    # An updated order keeps its customer, product, date and quantity: generate.py's formulas for them.
    return f"""
        WITH drawn AS (
            SELECT o AS order_id, min(j) AS j
            FROM (SELECT j, 1 + hm(hd(j, 'order'), {base}) AS o FROM range({4 * updates}) t(j))
            WHERE h(o, 'order.orphan') % 10000 >= 50 GROUP BY o
        ),
        updated AS (
            SELECT order_id, j,
                1 + hm(h(order_id, 'order.customer'), n_customers()) AS customer_id,
                1 + CAST(floor(n_products() * pow(hm(h(order_id, 'order.product'), 1000000) / 1000000.0, 1.5)) AS BIGINT) AS product_id,
                pick({quantities}, h(order_id, 'order.quantity')) AS quantity,
                pick(['delivered', 'delivered', 'returned', 'cancelled', 'Delivered '], hd(order_id, 'status')) AS status,
                greatest(signup(customer_id), DATE '{g.ORDER_START}') AS first_day,
                first_day + CAST(hm(h(order_id, 'order.date'), DATE '{g.ORDER_END}' - first_day + 1) AS INTEGER) AS order_date
            FROM drawn ORDER BY j LIMIT {updates}
        ),
        fresh AS (
            SELECT {base + 1 + (d - 1) * new} + j AS order_id, {4 * updates} + j AS j,
                1 + hm(hd(j, 'order.customer'), n_customers()) AS customer_id,
                1 + hm(hd(j, 'order.product'), n_products()) AS product_id,
                pick({quantities}, hd(j, 'order.quantity')) AS quantity,
                pick(['placed', 'placed', 'placed', 'shipped', ' Placed'], hd(j, 'order.status')) AS status,
                delivery_day() - CAST(hm(hd(j, 'order.late'), 2) AS INTEGER) AS order_date
            FROM range({new}) t(j)
        ),
        delivered AS (
            SELECT order_id, j, customer_id, product_id, quantity, status, order_date FROM updated
            UNION ALL SELECT order_id, j, customer_id, product_id, quantity, status, order_date FROM fresh
        )
        SELECT order_id, customer_id, product_id, strftime(order_date, '%Y-%m-%d') AS order_date, quantity,
            list_price(product_id) AS unit_price, status,
            strftime(delivery_day() + secs(hm(hd(order_id, 'time'), 86400)), '%Y-%m-%d %H:%M:%S') AS updated_at
        FROM delivered ORDER BY j
    """


def make_deliveries(folder: Path, customers: int, seed: int, count: int = DELIVERIES) -> list[dict[str, Path]]:
    """Deliveries 1..count for the dataset (customers, seed), written into `folder`; cheap, so always made."""
    import duckdb

    from clawdata.sample_data import generate as g

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET preserve_insertion_order = true")
        for macro in g._macros(customers, g.product_count(customers), seed):
            con.execute(macro)
        for d in range(1, count + 1):
            # The delivery's own seed: (dataset seed, delivery number).
            con.execute(f"CREATE OR REPLACE TEMP MACRO hd(k, salt) AS hash(CAST(k AS BIGINT), CAST({seed} AS BIGINT), "
                        f"CAST({d} AS BIGINT), CAST(salt AS VARCHAR))")
            con.execute(f"CREATE OR REPLACE TEMP MACRO delivery_day() AS DATE '{FIRST_DAY}' + {d - 1}")
            files = {}
            for name, sql in (("customers", _customers_sql(customers, d)), ("orders", _orders_sql(customers, d))):
                files[name] = folder / f"{name}_d{d:03d}.csv"
                g._copy(con, sql, files[name])
            out.append(files)
    finally:
        con.close()
    return out

def changed_customers(sample: Path, target: Path, count: int = 10, offset: int = 0) -> Path:
    """`count` existing customers of `sample` (the latest version of each), with a new city and a later
    updated_at: a small delivery of changed rows. `offset` picks other customers for each file."""
    import csv

    with (sample / "sample_customers.csv").open(newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    latest = {}
    for row in sorted(rows, key=lambda r: r["updated_at"]):
        latest[row["customer_id"]] = row
    chosen = sorted(latest, key=int)[offset * count:(offset + 1) * count]
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        for n, key in enumerate(chosen):
            writer.writerow({**latest[key], "city": f"Changed {offset}", "updated_at": f"2030-01-{offset % 28 + 1:02d} 00:00:{n:02d}"})
    return target
