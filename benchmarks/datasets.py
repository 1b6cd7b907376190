"""Generated input data, made once per (customers, seed) and reused.

Each size lives in `benchmarks/.work/data/customers-N-seed-S/` with a marker file written last, so an
interrupted generation is redone. The marker records the generator's source hash: a changed generator
makes different data, so the files are made again.
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
    info = {
        "customers": customers,
        "seed": seed,
        "rows": rows,
        "bytes": sum((folder / f).stat().st_size for f in FILES),
        "generate_s": round(time.perf_counter() - t0, 1),
        "generator": generator,
    }
    marker.write_text(json.dumps(info, indent=1))
    return {**info, "dir": str(folder), "reused": False}
