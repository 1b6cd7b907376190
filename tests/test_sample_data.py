"""The sample data generator: deterministic, proportional, on the contract, and dirty where it should be."""

import csv
import hashlib
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from clawdata.sample_data.generate import generate, product_count
from clawdata.sources.declarations import specs

SOURCES = specs()

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = ROOT / "data" / "sample"
FILES = [f"sample_{source.name}.csv" for source in SOURCES]


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}


def data_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as f:
        return sum(1 for _ in csv.reader(f)) - 1


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("fresh")
    return out, generate(out, customers=600, seed=42)


@pytest.fixture(scope="module")
def sample() -> duckdb.DuckDBPyConnection:
    """The committed sample, read exactly as the bronze layer reads it: explicit types, strict parser."""
    conn = duckdb.connect()
    for source in SOURCES:
        columns = "{" + ", ".join(f"'{c}': '{t}'" for c, t in source.types.items()) + "}"
        conn.execute(
            f"CREATE TABLE {source.raw_table} AS SELECT * FROM read_csv("
            f"'{SAMPLE_DIR / f'sample_{source.name}.csv'}', header = true, auto_detect = false, "
            f"strict_mode = true, columns = {columns})"
        )
    yield conn
    conn.close()


def one(conn: duckdb.DuckDBPyConnection, sql: str):
    return conn.execute(sql).fetchall()[0][0]


# -- determinism -------------------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(fresh, tmp_path):
    again = generate(tmp_path, customers=600, seed=42)
    assert again == fresh[1]
    assert digests(tmp_path) == digests(fresh[0])


def test_thread_count_does_not_change_the_output(tmp_path):
    generate(tmp_path / "one", customers=5000, seed=7, threads=1)
    generate(tmp_path / "four", customers=5000, seed=7, threads=4)
    assert digests(tmp_path / "one") == digests(tmp_path / "four")


def test_different_seed_gives_different_data(fresh, tmp_path):
    generate(tmp_path, customers=600, seed=43)
    other, ours = digests(tmp_path), digests(fresh[0])
    assert all(other[name] != ours[name] for name in FILES)


def test_committed_sample_is_reproducible(fresh):
    """data/sample is exactly `clawdata generate --customers 600 --seed 42`."""
    assert digests(SAMPLE_DIR) == digests(fresh[0])


# -- shape -------------------------------------------------------------------------------------------


def test_headers_match_the_contract(fresh):
    for source in SOURCES:
        with (fresh[0] / f"sample_{source.name}.csv").open(newline="", encoding="utf-8") as f:
            assert next(csv.reader(f)) == list(source.types), source.name


@pytest.mark.parametrize("customers", [1, 600, 20_000])
def test_row_counts_are_proportional(customers, tmp_path):
    rows = generate(tmp_path, customers=customers, seed=42)
    assert set(rows) == set(FILES)
    for name, count in rows.items():
        assert data_rows(tmp_path / name) == count, name
    conn = duckdb.connect()
    ids = lambda name, key: one(conn, f"SELECT count(DISTINCT {key}) FROM '{tmp_path / name}'")  # noqa: E731
    assert ids("sample_customers.csv", "customer_id") == customers
    assert ids("sample_orders.csv", "order_id") == 4 * customers
    assert ids("sample_products.csv", "product_id") == product_count(customers)
    if customers >= 20_000:  # the dirt is a stable share at scale
        assert 1.10 * customers < rows["sample_customers.csv"] < 1.16 * customers
        assert 1.02 * 4 * customers < rows["sample_orders.csv"] < 1.04 * 4 * customers


def test_product_count_is_bounded():
    assert product_count(1) == 50
    assert product_count(600) == 50
    assert product_count(1_000_000) == 1000
    assert product_count(10_000_000) == 5000


def test_sample_size(fresh):
    rows = fresh[1]
    assert rows["sample_customers.csv"] >= 600
    assert rows["sample_orders.csv"] >= 2000


def test_every_value_parses_with_the_contract_types(sample):
    """The strict, typed read loaded every line, and the never-blank columns are never blank."""
    for source in SOURCES:
        assert one(sample, f"SELECT count(*) FROM {source.raw_table}") == data_rows(
            SAMPLE_DIR / f"sample_{source.name}.csv"
        )
    never_blank = {
        "raw_customers": ["customer_id", "first_name", "last_name", "country", "signup_date", "updated_at"],
        "raw_orders": ["order_id", "customer_id", "product_id", "order_date", "quantity", "unit_price",
                       "status", "updated_at"],
        "raw_products": ["product_id", "product_name", "category", "unit_price", "updated_at"],
    }
    for table, columns in never_blank.items():
        condition = " OR ".join(f"{c} IS NULL" for c in columns)
        assert one(sample, f"SELECT count(*) FROM {table} WHERE {condition}") == 0, table


def test_dates_are_in_range(sample):
    assert one(sample, "SELECT min(signup_date) >= DATE '2024-01-01' AND max(updated_at) < TIMESTAMP '2027-01-01' "
                       "AND min(updated_at) >= TIMESTAMP '2024-01-01' FROM raw_customers")
    assert one(sample, "SELECT bool_and(updated_at >= signup_date) FROM raw_customers")
    assert one(sample, "SELECT min(order_date) >= DATE '2025-01-01' AND max(order_date) <= DATE '2026-10-31' "
                       "AND bool_and(updated_at >= order_date) FROM raw_orders")
    assert one(sample, "SELECT min(quantity) = 1 AND max(quantity) = 5 FROM raw_orders")


# -- dirt --------------------------------------------------------------------------------------------


def test_customers_have_exact_duplicates_and_later_versions(sample):
    duplicates = one(sample, "SELECT count(*) - count(DISTINCT raw_customers) FROM raw_customers")
    versioned = one(sample, "SELECT count(*) FROM (SELECT customer_id FROM raw_customers "
                            "GROUP BY ALL HAVING count(DISTINCT updated_at) > 1)")
    assert 10 <= duplicates <= 60
    assert 20 <= versioned <= 80
    # a later version changes the e-mail and/or the city
    changed = one(sample, """
        SELECT count(*) FROM (
            SELECT customer_id FROM raw_customers GROUP BY ALL
            HAVING count(DISTINCT lower(trim(coalesce(email, ''))))
                 + count(DISTINCT trim(regexp_replace(coalesce(city, ''), '\\s+', ' ', 'g'))) > 2
        )""")
    assert changed == versioned


def test_customers_have_dirty_values(sample):
    def count(condition: str) -> int:
        return one(sample, f"SELECT count(*) FROM raw_customers WHERE {condition}")

    assert count("email <> lower(email)") > 0, "mixed-case e-mails"
    assert count("email <> trim(email)") > 0, "padded e-mails"
    assert count("email IS NULL") > 0 and count("phone IS NULL") > 0 and count("city IS NULL") > 0
    assert count("first_name <> trim(first_name) OR last_name <> trim(last_name)") > 0
    assert count("city <> trim(city)") > 0
    assert count("first_name LIKE '%  %' OR last_name LIKE '%  %' OR city LIKE '%  %'") > 0
    assert count("country = lower(country)") > 0, "lower-case country codes"
    assert count("country <> trim(country)") > 0, "padded country codes"
    assert count("length(trim(country)) <> 2") == 0
    assert count("regexp_matches(phone, '[^0-9+]')") > 0, "formatted phone numbers"


def test_orders_have_duplicates_versions_orphans_and_messy_status(sample):
    duplicates = one(sample, "SELECT count(*) - count(DISTINCT raw_orders) FROM raw_orders")
    versions = one(sample, "SELECT count(*) FROM (SELECT order_id FROM raw_orders "
                           "GROUP BY ALL HAVING count(DISTINCT updated_at) > 1)")
    status_changed = one(sample, "SELECT count(*) FROM (SELECT order_id FROM raw_orders "
                                 "GROUP BY ALL HAVING count(DISTINCT lower(trim(status))) > 1)")
    orphans = one(sample, "SELECT count(DISTINCT order_id) FROM raw_orders "
                          "WHERE customer_id NOT IN (SELECT customer_id FROM raw_customers)")
    assert 20 <= duplicates <= 80
    assert 10 <= versions <= 45 and status_changed == versions
    assert 3 <= orphans <= 30
    assert one(sample, "SELECT min(customer_id) FROM raw_orders WHERE customer_id NOT IN "
                       "(SELECT customer_id FROM raw_customers)") > 600, "orphans lie beyond the customer range"
    statuses = {r[0] for r in sample.execute("SELECT DISTINCT status FROM raw_orders").fetchall()}
    assert {s.strip().lower() for s in statuses} == {"placed", "shipped", "delivered", "cancelled", "returned"}
    assert any(s != s.strip() for s in statuses) and any(s.strip() != s.strip().lower() for s in statuses)


def test_orders_reference_products_at_their_list_price(sample):
    assert one(sample, "SELECT count(*) FROM raw_orders o ANTI JOIN raw_products p USING (product_id)") == 0
    assert one(sample, "SELECT count(*) FROM raw_orders o JOIN raw_products p USING (product_id) "
                       "WHERE o.unit_price <> p.unit_price") == 0


def test_products_have_a_few_exact_duplicates(sample):
    duplicates = one(sample, "SELECT count(*) - count(DISTINCT raw_products) FROM raw_products")
    assert 1 <= duplicates <= 5
    assert one(sample, "SELECT count(DISTINCT category) FROM raw_products") >= 5


# -- command line ------------------------------------------------------------------------------------


def test_module_entry_point(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "clawdata.sample_data.generate", "--customers", "100", "--out", str(tmp_path),
         "--seed", "3"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for name in FILES:
        assert name in result.stdout and (tmp_path / name).is_file()
    assert f"{data_rows(tmp_path / 'sample_orders.csv'):,} rows" in result.stdout
    assert "Warning" not in result.stderr


def test_bad_arguments_are_rejected(tmp_path):
    with pytest.raises(ValueError):
        generate(tmp_path, customers=0)
    result = subprocess.run(
        [sys.executable, "-m", "clawdata.sample_data.generate", "--customers", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "--customers" in result.stderr
