"""Generate realistic, deliberately dirty retail sample data as CSV files.

    python -m clawdata.sample_data.generate --customers 600 --out data/sample --seed 42

Writes `sample_customers.csv`, `sample_orders.csv` and `sample_products.csv` with exactly the headers of
the contract declared in `src/clawdata/defs/sources/`. Everything is computed in DuckDB SQL from `range()` and
`hash(key, seed, salt)`, never `random()`: the same (customers, seed) gives byte-identical files whatever
the thread count, and 10 million customers take well under a minute on a laptop.

Sizes: `customers` base customers, `4 * customers` base orders and `max(50, customers // 1000)` products
(at most 5000), plus the dirt below.

The dirt, all deterministic:
- customers: ~5% exact duplicate rows; ~8% of customers again as a later version (same customer_id,
  later updated_at, a changed e-mail and/or city); stray leading/trailing/double inner whitespace in
  names and cities; mixed-case and padded e-mails; blanks only in email, phone and city; country codes
  sometimes lower-case or padded; phone numbers in several formats.
- orders: ~2% exact duplicate rows; ~1% later versions (status moved on, later updated_at); ~0.5%
  orphans (customer_id beyond the customer range); status in mixed case with stray whitespace.
- products: a few exact duplicate rows.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import duckdb

CUSTOMERS_FILE = "sample_customers.csv"
ORDERS_FILE = "sample_orders.csv"
PRODUCTS_FILE = "sample_products.csv"

ORDERS_PER_CUSTOMER = 4
MIN_PRODUCTS = 50
MAX_PRODUCTS = 5000

FIRST_NAMES = [
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Susan", "Richard", "Jessica", "Thomas", "Sarah", "Daniel", "Karen", "Matthew", "Emma",
    "Olivia", "Noah", "Liam", "Sophie", "Lukas", "Hannah", "Jonas", "Lea", "Lucas", "Chloé", "Hugo",
    "Inès", "Sofia", "Mateo", "Lucía", "Giulia", "Marco", "Ana", "João", "Sven", "Ingrid", "Aoife",
    "Seán", "Yuki", "Hiro", "Wei", "Mei", "Priya", "Arjun", "Fatima", "Omar", "Zoë", "Björn",
    "Mary Ann", "Anne-Marie", "Jean Luc", "Maria José",
]
LAST_NAMES = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Wilson", "Anderson", "Taylor", "Thomas", "Moore", "Martin", "Lee", "Thompson", "White", "Harris",
    "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Dubois", "Lefèvre", "Moreau", "Rossi",
    "Russo", "Ferrari", "García", "Fernández", "López", "Silva", "Santos", "Jansen", "de Vries",
    "van der Berg", "Nielsen", "Johansson", "Kowalski", "Nowak", "Murphy", "O'Brien", "O'Connor",
    "Tanaka", "Suzuki", "Wang", "Li", "Chen", "Kim", "Nguyen", "Patel", "Singh", "Khan", "De Luca",
    "Smith-Jones", "MacDonald",
]
# (city, ISO-3166 alpha-2 country, international dialling code)
CITIES = [
    ("New York", "US", "1"), ("Los Angeles", "US", "1"), ("Chicago", "US", "1"), ("Austin", "US", "1"),
    ("San Francisco", "US", "1"), ("Seattle", "US", "1"), ("Toronto", "CA", "1"), ("Vancouver", "CA", "1"),
    ("London", "GB", "44"), ("Manchester", "GB", "44"), ("Edinburgh", "GB", "44"), ("Dublin", "IE", "353"),
    ("Berlin", "DE", "49"), ("Hamburg", "DE", "49"), ("München", "DE", "49"), ("Köln", "DE", "49"),
    ("Paris", "FR", "33"), ("Lyon", "FR", "33"), ("Amsterdam", "NL", "31"), ("Den Haag", "NL", "31"),
    ("Brussels", "BE", "32"), ("Madrid", "ES", "34"), ("Barcelona", "ES", "34"), ("Lisbon", "PT", "351"),
    ("Rome", "IT", "39"), ("Milan", "IT", "39"), ("Vienna", "AT", "43"), ("Zürich", "CH", "41"),
    ("Copenhagen", "DK", "45"), ("Stockholm", "SE", "46"), ("Oslo", "NO", "47"), ("Warsaw", "PL", "48"),
    ("Kraków", "PL", "48"), ("Sydney", "AU", "61"), ("Melbourne", "AU", "61"), ("Auckland", "NZ", "64"),
    ("São Paulo", "BR", "55"), ("Rio de Janeiro", "BR", "55"), ("Mexico City", "MX", "52"),
    ("Buenos Aires", "AR", "54"), ("Tokyo", "JP", "81"), ("Singapore", "SG", "65"), ("Cape Town", "ZA", "27"),
]
EMAIL_DOMAINS = [
    "gmail.com", "gmail.com", "gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com",
    "proton.me", "gmx.de", "web.de", "orange.fr", "libero.it", "mail.com", "aol.com",
]
WORK_DOMAINS = ["acme.com", "globex.com", "initech.com", "example.org", "northwind.io", "contoso.com"]
# (category, lowest list price, highest list price) and the nouns its product names use
CATEGORIES = [
    ("Apparel", 9, 120, ["T-Shirt", "Hoodie", "Jeans", "Jacket", "Dress", "Sweater", "Scarf", "Socks"]),
    ("Footwear", 25, 220, ["Sneakers", "Running Shoes", "Boots", "Sandals", "Loafers", "Slippers"]),
    ("Electronics", 15, 1500, ["Headphones", "Bluetooth Speaker", "Smartwatch", "Tablet", "Power Bank",
                               "Webcam", "Keyboard", "Monitor"]),
    ("Home & Kitchen", 8, 400, ["Chef's Knife", "Frying Pan", "Coffee Maker", "Blender", "Mug Set",
                                "Cutting Board", "Toaster", "Kettle"]),
    ("Beauty", 5, 90, ["Face Cream", "Shampoo", "Lip Balm", "Perfume", "Hair Dryer", "Serum"]),
    ("Sports", 10, 600, ["Yoga Mat", "Dumbbell Set", "Tennis Racket", "Bike Helmet", "Water Bottle",
                         "Backpack"]),
    ("Toys", 6, 150, ["Puzzle", "Board Game", "Building Blocks", "Plush Bear", "RC Car", "Kite"]),
    ("Books", 7, 60, ["Cookbook", "Novel", "Travel Guide", "Notebook", "Comic", "Atlas"]),
    ("Grocery", 2, 40, ["Olive Oil", "Coffee Beans", "Green Tea", "Dark Chocolate", "Pasta", "Honey"]),
    ("Garden", 5, 350, ["Garden Hose", "Plant Pot", "Pruning Shears", "Bird Feeder", "Lawn Chair"]),
]
BRANDS = ["Northwind", "Acme", "Lumen", "Trailhead", "Kestrel", "Oakline", "Nordic Home", "Vela",
          "Brightside", "Urbano", "Pico", "Solstice", "Ferro", "Maple & Co"]
ADJECTIVES = ["Classic", "Premium", "Essential", "Ultra", "Compact", "Organic", "Deluxe", "Everyday",
              "Pro", "Vintage", "Eco", "Lightweight", "Heritage", "Smart"]
COLORS = ["Black", "White", "Navy", "Grey", "Red", "Olive", "Sand", "Sky Blue", "Forest Green", "Rose"]
# weighted: most orders are delivered
STATUSES = ["delivered"] * 12 + ["shipped"] * 3 + ["placed"] * 2 + ["cancelled"] * 2 + ["returned"]
QUANTITIES = [1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 4, 5]

# Dates. Signups 2024-01-01..2025-12-30 (increasing with customer_id); orders 2025-01-01..2026-10-31.
SIGNUP_START = "2024-01-01"
SIGNUP_DAYS = 730
ORDER_START = "2025-01-01"
ORDER_END = "2026-10-31"


def product_count(customers: int) -> int:
    return min(MAX_PRODUCTS, max(MIN_PRODUCTS, customers // 1000))


def _lit(value: object) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"unsupported literal {value!r}")
    return str(value)


def _list(values: list) -> str:
    return "[" + ", ".join(_lit(v) for v in values) + "]"


def _macros(customers: int, products: int, seed: int) -> list[str]:
    """Temporary macros shared by the three files. `h` is the only source of randomness."""
    return [
        # a 64-bit hash of (key, seed, salt); the key is cast so BIGINT and UBIGINT keys hash alike
        f"CREATE TEMP MACRO h(k, salt) AS hash(CAST(k AS BIGINT), CAST({seed} AS BIGINT), CAST(salt AS VARCHAR))",
        # the same per row version (v = 0 original, 1 later version)
        f"CREATE TEMP MACRO hv(k, v, salt) AS hash(CAST(k AS BIGINT), CAST(v AS BIGINT), CAST({seed} AS BIGINT), "
        "CAST(salt AS VARCHAR))",
        # a value in 0..n-1
        "CREATE TEMP MACRO hm(x, n) AS CAST(x % CAST(n AS UBIGINT) AS BIGINT)",
        "CREATE TEMP MACRO pick(l, x) AS l[1 + hm(x, len(l))]",
        "CREATE TEMP MACRO secs(n) AS to_seconds(CAST(n AS BIGINT))",
        "CREATE TEMP MACRO initcap(s) AS upper(s[1]) || s[2:]",
        # stray whitespace: leading, trailing, both, or doubled inner spaces (~14% of values)
        "CREATE TEMP MACRO ws(s, x) AS CASE WHEN s IS NULL THEN NULL "
        "WHEN x % 100 < 3 THEN ' ' || s WHEN x % 100 < 6 THEN s || ' ' "
        "WHEN x % 100 < 8 THEN '  ' || s || ' ' WHEN x % 100 < 14 THEN replace(s, ' ', '  ') ELSE s END",
        # customer ids grow with the signup date, so orders can start after the signup
        f"CREATE TEMP MACRO signup(c) AS DATE '{SIGNUP_START}' "
        f"+ CAST(((CAST(c AS BIGINT) - 1) * {SIGNUP_DAYS}) // {customers} AS INTEGER)",
        f"CREATE TEMP MACRO cat_idx(pid) AS hm(h(pid, 'product.category'), {len(CATEGORIES)})",
        "CREATE TEMP MACRO list_price(pid) AS CAST("
        f"{_list([c[1] for c in CATEGORIES])}[1 + cat_idx(pid)] "
        f"+ hm(h(pid, 'product.price'), {_list([c[2] - c[1] for c in CATEGORIES])}[1 + cat_idx(pid)]) "
        "+ [0.99, 0.99, 0.49, 0.95, 0.00, 0.50][1 + hm(h(pid, 'product.cents'), 6)] AS DECIMAL(12,2))",
        f"CREATE TEMP MACRO n_customers() AS {customers}",
        f"CREATE TEMP MACRO n_products() AS {products}",
    ]


def _products_sql() -> str:
    nouns = "[" + ", ".join(_list(c[3]) for c in CATEGORIES) + "]"
    return f"""
        WITH p AS (
            SELECT i AS product_id, cat_idx(i) AS ci FROM range(1, n_products() + 1) t(i)
        ),
        r AS (
            SELECT
                product_id,
                pick({_list(BRANDS)}, h(product_id, 'product.brand')) || ' '
                    || pick({_list(ADJECTIVES)}, h(product_id, 'product.adjective')) || ' '
                    || pick({nouns}[1 + ci], h(product_id, 'product.noun'))
                    || CASE WHEN h(product_id, 'product.colored') % 100 < 40
                            THEN ', ' || pick({_list(COLORS)}, h(product_id, 'product.color')) ELSE '' END
                    AS product_name,
                {_list([c[0] for c in CATEGORIES])}[1 + ci] AS category,
                list_price(product_id) AS unit_price,
                TIMESTAMP '2024-01-01' + secs(hm(h(product_id, 'product.updated'), 731 * 86400)) AS updated_at
            FROM p
        )
        SELECT
            product_id,
            product_name,
            category,
            unit_price,
            strftime(updated_at, '%Y-%m-%d %H:%M:%S') AS updated_at
        FROM r CROSS JOIN (VALUES (0), (1)) copies(k)
        WHERE k = 0
           OR h(product_id, 'product.duplicate') % 100 < 3
           OR product_id = 1 + hm(h(0, 'product.duplicate'), n_products())  -- at least one duplicate
        ORDER BY product_id, k
    """


def _customers_sql() -> str:
    cities = _list([c[0] for c in CITIES])
    countries = _list([c[1] for c in CITIES])
    dial = _list([c[2] for c in CITIES])
    n_cities = len(CITIES)
    return f"""
        WITH base AS (
            SELECT
                i AS customer_id,
                pick({_list(FIRST_NAMES)}, h(i, 'customer.first')) AS first_name,
                pick({_list(LAST_NAMES)}, h(i, 'customer.last')) AS last_name,
                hm(h(i, 'customer.city'), {n_cities}) AS ci,
                hm(h(i, 'customer.city'), {n_cities}) + 1 + hm(h(i, 'customer.moved'), {n_cities - 1}) AS ci_moved,
                signup(i) AS signup_date,
                signup(i) + secs(hm(h(i, 'customer.updated'), 180 * 86400)) AS updated_at,
                h(i, 'customer.duplicate') % 10000 < 500 AS is_duplicated,
                h(i, 'customer.version') % 10000 < 800 AS is_versioned,
                hm(h(i, 'customer.change'), 3) AS change,  -- 0: e-mail, 1: city, 2: both
                h(i, 'customer.email_blank') % 100 < 4 AS email_blank,
                h(i, 'customer.phone_blank') % 100 < 6 AS phone_blank,
                h(i, 'customer.city_blank') % 100 < 2 AS city_blank
            FROM range(1, n_customers() + 1) t(i)
        ),
        named AS (
            SELECT
                *,
                lower(regexp_replace(strip_accents(first_name), '[^A-Za-z]', '', 'g')) AS f,
                lower(regexp_replace(strip_accents(last_name), '[^A-Za-z]', '', 'g')) AS l
            FROM base
        ),
        clean AS (
            SELECT
                *,
                [f || '.' || l, f || l, f[1] || '.' || l, f || '_' || l, l || '.' || f][
                    1 + hm(h(customer_id, 'customer.email_form'), 5)]
                    || CASE WHEN h(customer_id, 'customer.email_number') % 100 < 45 THEN ''
                            ELSE CAST(hm(h(customer_id, 'customer.email_number') // 100, 100) AS VARCHAR) END
                    AS email_local,
                pick({_list(EMAIL_DOMAINS)}, h(customer_id, 'customer.domain')) AS domain,
                {dial}[1 + ci] AS dial,
                lpad(CAST(hm(h(customer_id, 'customer.phone'), 10000000000) AS VARCHAR), 10, '0') AS digits,
                updated_at + secs(86400 + hm(h(customer_id, 'customer.version_after'), 150 * 86400)) AS updated_at_v1
            FROM named
        ),
        copies AS (
            -- k = 0: the row; k = 1: its exact duplicate; k = 2: the later version (v = 1)
            SELECT c.*, k, CAST(k = 2 AS INTEGER) AS v
            FROM clean c CROSS JOIN (VALUES (0), (1), (2)) copies(k)
            WHERE k = 0 OR (k = 1 AND is_duplicated) OR (k = 2 AND is_versioned)
        ),
        versioned AS (
            SELECT
                *,
                CASE WHEN v = 1 AND change IN (0, 2)
                     THEN email_local || '.' || CAST(100 + hm(h(customer_id, 'customer.new_email'), 900) AS VARCHAR)
                          || '@' || pick({_list(WORK_DOMAINS)}, h(customer_id, 'customer.new_domain'))
                     WHEN email_blank THEN NULL
                     ELSE email_local || '@' || domain END AS email_v,
                CASE WHEN v = 1 AND change IN (1, 2) THEN ci_moved % {n_cities} ELSE ci END AS city_idx,
                v = 1 AND change IN (1, 2) AS moved
            FROM copies
        )
        SELECT
            customer_id,
            ws(first_name, hv(customer_id, v, 'customer.first_ws')) AS first_name,
            ws(last_name, hv(customer_id, v, 'customer.last_ws')) AS last_name,
            CASE hm(hv(customer_id, v, 'customer.email_case'), 100)
                WHEN 0 THEN upper(email_v)
                WHEN 1 THEN upper(email_v)
                WHEN 2 THEN initcap(email_v)
                WHEN 3 THEN initcap(email_v)
                WHEN 4 THEN initcap(email_v)
                WHEN 5 THEN split_part(email_v, '@', 1) || '@' || upper(split_part(email_v, '@', 2))
                WHEN 6 THEN upper(split_part(email_v, '@', 1)) || '@' || split_part(email_v, '@', 2)
                WHEN 7 THEN ' ' || email_v
                WHEN 8 THEN email_v || ' '
                ELSE email_v END AS email,
            CASE WHEN phone_blank THEN NULL
                 ELSE [
                     '+' || dial || ' ' || digits[1:3] || ' ' || digits[4:6] || ' ' || digits[7:],
                     '+' || dial || digits,
                     '(' || digits[1:3] || ') ' || digits[4:6] || '-' || digits[7:],
                     digits[1:3] || '-' || digits[4:6] || '-' || digits[7:],
                     '00' || dial || ' ' || digits,
                     '0' || digits[2:4] || ' ' || digits[5:]
                 ][1 + hm(h(customer_id, 'customer.phone_form'), 6)] END AS phone,
            CASE WHEN city_blank AND NOT moved THEN NULL
                 ELSE ws({cities}[1 + city_idx], hv(customer_id, v, 'customer.city_ws')) END AS city,
            CASE hm(hv(customer_id, v, 'customer.country_form'), 100)
                WHEN 0 THEN lower({countries}[1 + city_idx])
                WHEN 1 THEN lower({countries}[1 + city_idx])
                WHEN 2 THEN lower({countries}[1 + city_idx])
                WHEN 3 THEN lower({countries}[1 + city_idx])
                WHEN 4 THEN ' ' || {countries}[1 + city_idx]
                WHEN 5 THEN {countries}[1 + city_idx] || ' '
                WHEN 6 THEN ' ' || lower({countries}[1 + city_idx]) || ' '
                ELSE {countries}[1 + city_idx] END AS country,
            strftime(signup_date, '%Y-%m-%d') AS signup_date,
            strftime(CASE WHEN v = 1 THEN updated_at_v1 ELSE updated_at END, '%Y-%m-%d %H:%M:%S') AS updated_at
        FROM versioned
        ORDER BY customer_id, k
    """


def _orders_sql() -> str:
    n_days = f"(DATE '{ORDER_END}' - DATE '{ORDER_START}' + 1)"
    return f"""
        WITH base AS (
            SELECT
                i AS order_id,
                h(i, 'order.orphan') % 10000 < 50 AS is_orphan,
                CASE WHEN is_orphan
                     THEN n_customers() + 1 + hm(h(i, 'order.customer'), greatest(100, n_customers() // 20))
                     ELSE 1 + hm(h(i, 'order.customer'), n_customers()) END AS customer_id,
                -- popular products first: the power skews towards low ids
                1 + CAST(floor(n_products() * pow(hm(h(i, 'order.product'), 1000000) / 1000000.0, 1.5)) AS BIGINT)
                    AS product_id,
                pick({_list(QUANTITIES)}, h(i, 'order.quantity')) AS quantity,
                CASE WHEN is_orphan THEN DATE '{ORDER_START}'
                     ELSE greatest(signup(customer_id), DATE '{ORDER_START}') END AS first_day,
                first_day + CAST(hm(h(i, 'order.date'), DATE '{ORDER_END}' - first_day + 1) AS INTEGER) AS order_date,
                h(i, 'order.duplicate') % 10000 < 200 AS is_duplicated,
                h(i, 'order.version') % 10000 < 100 AS is_versioned
            FROM range(1, {ORDERS_PER_CUSTOMER} * n_customers() + 1) t(i)
        ),
        statused AS (
            SELECT
                *,
                CASE WHEN is_versioned THEN pick(['placed', 'placed', 'shipped', 'delivered'], h(order_id, 'order.status'))
                     ELSE pick({_list(STATUSES)}, h(order_id, 'order.status')) END AS status_v0,
                CASE status_v0
                    WHEN 'placed' THEN pick(['shipped', 'shipped', 'cancelled'], h(order_id, 'order.next_status'))
                    WHEN 'shipped' THEN 'delivered'
                    ELSE 'returned' END AS status_v1,
                order_date + secs(8 * 3600 + hm(h(order_id, 'order.time'), 14 * 3600))
                    + to_days(CAST(CASE status_v0
                        WHEN 'placed' THEN 0
                        WHEN 'cancelled' THEN hm(h(order_id, 'order.lag'), 3)
                        WHEN 'shipped' THEN 1 + hm(h(order_id, 'order.lag'), 3)
                        WHEN 'delivered' THEN 3 + hm(h(order_id, 'order.lag'), 8)
                        ELSE 14 + hm(h(order_id, 'order.lag'), 17) END AS INTEGER)) AS updated_at_v0
            FROM base
        ),
        copies AS (
            SELECT s.*, k, CAST(k = 2 AS INTEGER) AS v
            FROM statused s CROSS JOIN (VALUES (0), (1), (2)) copies(k)
            WHERE k = 0 OR (k = 1 AND is_duplicated) OR (k = 2 AND is_versioned)
        ),
        versioned AS (
            SELECT
                *,
                CASE WHEN v = 1 THEN status_v1 ELSE status_v0 END AS status_clean
            FROM copies
        )
        SELECT
            order_id,
            customer_id,
            product_id,
            strftime(order_date, '%Y-%m-%d') AS order_date,
            quantity,
            list_price(product_id) AS unit_price,
            CASE hm(hv(order_id, v, 'order.status_form'), 100)
                WHEN 0 THEN initcap(status_clean)
                WHEN 1 THEN initcap(status_clean)
                WHEN 2 THEN initcap(status_clean)
                WHEN 3 THEN upper(status_clean)
                WHEN 4 THEN upper(status_clean)
                WHEN 5 THEN ' ' || initcap(status_clean)
                WHEN 6 THEN ' ' || status_clean
                WHEN 7 THEN status_clean || ' '
                ELSE status_clean END AS status,
            strftime(CASE WHEN v = 1
                          THEN updated_at_v0 + secs(3600 + hm(h(order_id, 'order.version_after'), 20 * 86400))
                          ELSE updated_at_v0 END, '%Y-%m-%d %H:%M:%S') AS updated_at
        FROM versioned
        ORDER BY order_id, k
    """


def _copy(con: duckdb.DuckDBPyConnection, query: str, target: Path) -> int:
    """COPY the query to `target` atomically (a temporary file renamed into place); returns rows written."""
    tmp = target.with_name(f".{target.name}.tmp")
    path = str(tmp).replace("'", "''")
    try:
        rows = con.execute(f"COPY ({query}) TO '{path}' (FORMAT csv, HEADER, DELIMITER ',')").fetchone()[0]
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return int(rows)


def generate(out_dir: Path, customers: int, seed: int = 42, *, threads: int | None = None) -> dict[str, int]:
    """Write the three sample CSV files into `out_dir`; returns the rows written per file name.

    Deterministic: the same (customers, seed) gives byte-identical files on every run and for every
    `threads` (DuckDB worker threads; default: all cores).
    """
    if isinstance(customers, bool) or not isinstance(customers, int) or customers < 1:
        raise ValueError(f"customers must be a positive integer, got {customers!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    products = product_count(customers)

    with tempfile.TemporaryDirectory(prefix="clawdata-generate-") as spill:
        con = duckdb.connect(":memory:")
        try:
            con.execute(f"SET temp_directory = '{spill}'")
            con.execute("SET preserve_insertion_order = true")
            if threads is not None:
                con.execute(f"SET threads = {int(threads)}")
            for macro in _macros(customers, products, seed):
                con.execute(macro)
            return {
                CUSTOMERS_FILE: _copy(con, _customers_sql(), out_dir / CUSTOMERS_FILE),
                ORDERS_FILE: _copy(con, _orders_sql(), out_dir / ORDERS_FILE),
                PRODUCTS_FILE: _copy(con, _products_sql(), out_dir / PRODUCTS_FILE),
            }
        finally:
            con.close()


def _default_out() -> Path:
    from clawdata import settings

    return settings.sample_dir()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="clawdata generate",
        description="Generate deterministic, deliberately dirty retail sample CSVs "
        f"({CUSTOMERS_FILE}, {ORDERS_FILE}, {PRODUCTS_FILE}).",
    )
    parser.add_argument("--customers", type=int, default=600,
                        help="base customers (orders: 4 per customer; products: customers/1000, 50..5000)")
    parser.add_argument("--out", type=Path, default=None,
                        help="output directory (default: the sample folder, data/sample)")
    parser.add_argument("--seed", type=int, default=42, help="seed; the same seed gives identical files")
    args = parser.parse_args(argv)
    if args.customers < 1:
        parser.error("--customers must be at least 1")
    out = args.out if args.out is not None else _default_out()

    started = time.perf_counter()
    try:
        rows = generate(out, customers=args.customers, seed=args.seed)
    except (OSError, duckdb.Error) as exc:
        print(f"error: could not generate sample data in {out}: {exc}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - started
    for name, count in rows.items():
        size = (out / name).stat().st_size
        print(f"{out / name}: {count:,} rows, {size / 1e6:,.1f} MB")
    print(f"generated in {elapsed:.1f}s (customers={args.customers:,}, seed={args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
