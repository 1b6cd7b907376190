"""Plain dbt beside clawdata: the same project, the same edits, dbt's own command on a warehouse of its own.

- `PlainDbt.build()`: `dbt build` as a dbt user runs it after each edit (a subprocess, the real
  command), on the warehouse it keeps across steps; returns dbt's summary line.
- `PlainDbt.fresh_tables()`: the tables a from-scratch `dbt seed` + `dbt build` of the project as it
  is now gives, on a new warehouse: what every table must hold after any edit.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from clawdata.warehouse.readers import read_only

DBT = Path(sys.executable).parent / "dbt"
SUMMARY = re.compile(r"Done\. PASS=\d+ WARN=\d+ ERROR=\d+ SKIP=\d+ NO-OP=\d+ TOTAL=\d+")
PROFILE = """{name}:
  target: plain
  outputs:
    plain:
      type: duckdb
      path: "{{{{ env_var('PLAIN_WAREHOUSE') }}}}"
      threads: 1
"""
# Not part of a table's contents: when a snapshot row was taken, and its surrogate key (hashed from it).
_SNAPSHOT_COLUMNS = re.compile(r"^dbt_(valid_from|valid_to|updated_at|scd_id)$")


class PlainDbt:
    def __init__(self, project: Path, workdir: Path):
        self.project, self.workdir = project, workdir
        self.profiles = workdir / "profiles"
        self.profiles.mkdir(parents=True, exist_ok=True)
        name = yaml.safe_load((project / "dbt_project.yml").read_text())["profile"]
        (self.profiles / "profiles.yml").write_text(PROFILE.format(name=name))
        self.warehouse = workdir / "plain.duckdb"
        if (project / "packages.yml").is_file():
            self._dbt(self.warehouse, "deps")

    def _dbt(self, warehouse: Path, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "PLAIN_WAREHOUSE": str(warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
        env.pop("CLAWDATA_WAREHOUSE_PATH", None)
        target = [] if args[0] == "deps" else ["--target-path", str(self.workdir / f"target_{warehouse.stem}")]
        done = subprocess.run([str(DBT), "--no-use-colors", *args, "--project-dir", str(self.project),
                               "--profiles-dir", str(self.profiles), *target],
                              env=env, capture_output=True, text=True, timeout=600)
        assert args[0] != "deps" or done.returncode == 0, done.stdout + done.stderr
        return done

    def build(self) -> str:
        done = self._dbt(self.warehouse, "build")
        found = SUMMARY.search(done.stdout)
        return found.group(0) if found else f"(exit {done.returncode}) " + done.stdout.strip().splitlines()[-1]

    def fresh_tables(self, nodes: dict) -> dict[str, tuple]:
        """In this process (dbt's programmatic runner: the same dbt, without two process starts)."""
        from dbt.cli.main import dbtRunner

        from clawdata.gold.runner import close_dbt_duckdb

        fresh = self.workdir / "fresh.duckdb"
        fresh.unlink(missing_ok=True)
        os.environ["PLAIN_WAREHOUSE"] = str(fresh)
        try:
            for command in ("seed", "build"):  # seeds first: the documented order for a seed read through a source
                dbtRunner().invoke(["--quiet", "--no-use-colors", "--log-level-file", "none", command,
                                    "--project-dir", str(self.project), "--profiles-dir", str(self.profiles),
                                    "--target-path", str(self.workdir / "target_fresh")])
                close_dbt_duckdb()
        finally:
            os.environ.pop("PLAIN_WAREHOUSE", None)
        return tables(fresh, nodes)


def gold_nodes(project: Path) -> dict:
    """The project's tables (models, seeds, snapshots), by `schema.table`, from its parsed manifest."""
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    return {f"{n['schema']}.{n.get('alias') or n['name']}": n for n in manifest["nodes"].values()
            if n["resource_type"] in ("model", "seed", "snapshot") and n["config"].get("materialized") != "ephemeral"}


def tables(warehouse: Path, nodes: dict) -> dict[str, tuple]:
    """Row count and checksum of each node's table (a snapshot without its timestamps)."""
    found = {}
    with read_only(warehouse) as conn:
        for relation, node in nodes.items():
            schema, name = relation.split(".", 1)
            columns = [c for (c,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_catalog = 'warehouse' "
                "AND table_schema = ? AND table_name = ? ORDER BY ordinal_position", [schema, name]).fetchall()]
            if not columns:
                continue
            kept = [c for c in columns if not (node["resource_type"] == "snapshot" and _SNAPSHOT_COLUMNS.match(c))]
            select = ", ".join(f'"{c}"' for c in kept)
            found[relation] = conn.execute(
                f'SELECT count(*), coalesce(md5(string_agg(CAST(t AS VARCHAR), chr(10) ORDER BY CAST(t AS VARCHAR))), \'\') '
                f'FROM (SELECT {select} FROM "{schema}"."{name}") AS t').fetchone()
    return found


def copy_project(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("target", "dbt_packages", "logs"))
    return target


def edit(projects: list[Path], relative: str, old: str, new: str) -> None:
    """The same edit in every copy (old text must be there, so a typo cannot pass silently). Line
    endings are kept as they are: an edit may write a `\r\n`, and a later one find it."""
    for project in projects:
        path = project / relative
        text = path.open(newline="").read() if path.exists() else ""
        assert old in text, f"{path}: {old!r} not found"
        with path.open("w", newline="") as f:
            f.write(text.replace(old, new, 1) if old else text + new)
