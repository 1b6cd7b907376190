"""The CSV sources: what each file must contain and how its silver table is cleaned.

Each source `NAME` gives two assets: `raw_NAME` (bronze: every input file, typed, as delivered, plus
`_source_file` and `_loaded_at`) and `slv_NAME` (silver: trimmed, normalised, one row per key, the
latest version winning). Input files are `sample_NAME.csv` in the sample folder and `NAME*.csv` in
the inbox, where new deliveries land.
"""

from dataclasses import dataclass
from pathlib import Path

from clawdata import settings
from clawdata.warehouse.tables import BRONZE as BRONZE_SCHEMA, SILVER as SILVER_SCHEMA, Table


@dataclass(frozen=True)
class Source:
    name: str
    description: str
    columns: dict[str, str]  # header name -> DuckDB type the bronze read enforces
    key: str  # business key: unique in silver
    required: tuple[str, ...]  # must be non-null in silver
    silver_sql: str  # SELECT over the bronze rows, `FROM {BRONZE}`: see silver_select

    @property
    def raw_table(self) -> str:  # the bronze asset's key and table name
        return f"raw_{self.name}"

    @property
    def silver_table(self) -> str:  # the silver asset's key and table name
        return f"slv_{self.name}"

    @property
    def bronze(self) -> Table:
        return Table(BRONZE_SCHEMA, self.raw_table)

    @property
    def silver(self) -> Table:
        return Table(SILVER_SCHEMA, self.silver_table)

    def silver_select(self, bronze: str | None = None) -> str:
        """The silver SELECT over `bronze` (a relation: the bronze table, or some of its rows)."""
        return self.silver_sql.replace(BRONZE, bronze or str(self.bronze))

    def input_files(self) -> list[Path]:
        """The sample file first, then inbox deliveries in name order (later names win ties)."""
        files = [settings.sample_dir() / f"sample_{self.name}.csv"]
        inbox = settings.inbox_dir()
        if inbox.is_dir():
            files += sorted(inbox.glob(f"{self.name}*.csv"))
        return files


def file_rank(path: Path) -> str:
    """A file's place in delivery order, from its own name and folder alone (so a file loaded on its
    own ranks as it would in a full rebuild): the sample first, then inbox files by name."""
    return f"{0 if path.parent == settings.sample_dir() else 1}:{path.name}"


# Where a silver SELECT reads bronze: the table in a full build, the changed keys' rows in a merge.
BRONZE = "__bronze_rows__"


def clean_text(column: str) -> str:
    """SQL: collapse any whitespace run (tabs, no-break spaces too) to one space, trim, blank -> NULL."""
    return f"nullif(trim(regexp_replace({column}, '[\\s\\x{{00a0}}]+', ' ', 'g')), '')"


# Text cleaning: see clean_text. Dedupe: the row with the
# latest `updated_at` per key; among identical timestamps the later file (higher `_file_rank`, see file_rank) wins, so
# a redelivery in the inbox overrides the sample.
CUSTOMERS = Source(
    name="customers",
    description="Customers as delivered by the CRM export: duplicates, stray whitespace, mixed-case e-mails.",
    columns={
        "customer_id": "BIGINT",
        "first_name": "VARCHAR",
        "last_name": "VARCHAR",
        "email": "VARCHAR",
        "phone": "VARCHAR",
        "city": "VARCHAR",
        "country": "VARCHAR",
        "signup_date": "DATE",
        "updated_at": "TIMESTAMP",
    },
    key="customer_id",
    required=("customer_id", "last_name", "signup_date", "updated_at"),
    silver_sql=f"""
        SELECT
            customer_id,
            {clean_text('first_name')} AS first_name,
            {clean_text('last_name')} AS last_name,
            lower({clean_text('email')}) AS email,
            nullif(regexp_replace(phone, '[^0-9+]', '', 'g'), '') AS phone,
            {clean_text('city')} AS city,
            upper({clean_text('country')}) AS country,
            signup_date,
            updated_at
        FROM {BRONZE}
        WHERE customer_id IS NOT NULL
        QUALIFY row_number() OVER (
            PARTITION BY customer_id ORDER BY updated_at DESC NULLS LAST, _file_rank DESC
        ) = 1
    """,
)

ORDERS = Source(
    name="orders",
    description="Order lines from the shop: one product per order, some referencing unknown customers.",
    columns={
        "order_id": "BIGINT",
        "customer_id": "BIGINT",
        "product_id": "BIGINT",
        "order_date": "DATE",
        "quantity": "INTEGER",
        "unit_price": "DECIMAL(12,2)",
        "status": "VARCHAR",
        "updated_at": "TIMESTAMP",
    },
    key="order_id",
    required=("order_id", "customer_id", "product_id", "order_date", "quantity", "unit_price", "status"),
    silver_sql=f"""
        SELECT
            order_id,
            customer_id,
            product_id,
            order_date,
            quantity,
            unit_price,
            CAST(quantity * unit_price AS DECIMAL(14,2)) AS amount,
            lower({clean_text('status')}) AS status,
            updated_at
        FROM {BRONZE}
        WHERE order_id IS NOT NULL
        QUALIFY row_number() OVER (
            PARTITION BY order_id ORDER BY updated_at DESC NULLS LAST, _file_rank DESC
        ) = 1
    """,
)

PRODUCTS = Source(
    name="products",
    description="The product catalogue with list prices.",
    columns={
        "product_id": "BIGINT",
        "product_name": "VARCHAR",
        "category": "VARCHAR",
        "unit_price": "DECIMAL(12,2)",
        "updated_at": "TIMESTAMP",
    },
    key="product_id",
    required=("product_id", "product_name", "category", "unit_price"),
    silver_sql=f"""
        SELECT
            product_id,
            {clean_text('product_name')} AS product_name,
            lower({clean_text('category')}) AS category,
            unit_price,
            updated_at
        FROM {BRONZE}
        WHERE product_id IS NOT NULL
        QUALIFY row_number() OVER (
            PARTITION BY product_id ORDER BY updated_at DESC NULLS LAST, _file_rank DESC
        ) = 1
    """,
)

SOURCES: tuple[Source, ...] = (CUSTOMERS, ORDERS, PRODUCTS)
