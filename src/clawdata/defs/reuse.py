"""Incremental runs: a step whose inputs and code did not change reuses its table.

Dagster records a data version with every materialization, and with it the code version and the input
data versions it was built from (its provenance). Bronze's data version is a fingerprint of its input
files (paths, sizes, modification times) and its code; silver and gold get theirs from Dagster (a hash
of code version and inputs). So a step compares its last provenance with the current code version and
upstream data versions: equal, and its table still exists, means rebuilding would write the same data.
"""

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import dagster as dg

from clawdata.settings import FULL_REFRESH_TAG
from clawdata.warehouse.ledger import file_fingerprint

DATA_VERSION_TAG = "dagster/data_version"  # where Dagster stores a materialization's data version


def fingerprint(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def files_fingerprint(files: Iterable[Path], code_version: str) -> str:
    return fingerprint([(str(p), file_fingerprint(p)) for p in files], code_version)


def latest_data_version(instance: dg.DagsterInstance, key: dg.AssetKey) -> str | None:
    record = instance.get_latest_data_version_record(key)
    # A materialization reported without tags (the restore's "restored" marks) has tags None, not {}.
    return (record.asset_materialization.tags or {}).get(DATA_VERSION_TAG) if record and record.asset_materialization else None


def built_from_same_inputs(
    context: dg.AssetExecutionContext, key: dg.AssetKey, code_version: str | None, upstream: Iterable[dg.AssetKey]
) -> bool:
    """True if `key` was last materialized by this code version from the current upstream versions."""
    provenance = context.get_asset_provenance(key)
    if provenance is None or code_version is None or provenance.code_version != code_version:
        return False
    current: Mapping[dg.AssetKey, str | None] = {k: latest_data_version(context.instance, k) for k in upstream}
    recorded = provenance.input_data_versions
    return all(v is not None and k in recorded and recorded[k].value == v for k, v in current.items())


def full_refresh(context: dg.AssetExecutionContext) -> bool:
    """The run asks for full builds, no reuse and no increments (`materialize --full-refresh`, or the
    tag set in the UI's launchpad)."""
    return context.run.tags.get(FULL_REFRESH_TAG, "").lower() == "true"
