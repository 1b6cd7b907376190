"""Plain dbt beside clawdata: the same project, the same edits, dbt's own command on a warehouse of its own.

- `PlainDbt.build()`: `dbt build` as a dbt user runs it after each edit, on the warehouse it keeps
  across steps; returns dbt's summary line. In this process, through dbt's programmatic runner (the
  same dbt as its command: a subprocess cost 5-8 s a step, 40 % of test_outside_projects).
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
        if (project / "packages.yml").is_file():  # the command a dbt user runs first
            done = subprocess.run([str(DBT), "--no-use-colors", "deps", "--project-dir", str(project),
                                   "--profiles-dir", str(self.profiles)], capture_output=True, text=True, timeout=600,
                                  env={**os.environ, "PLAIN_WAREHOUSE": str(self.warehouse), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"})
            assert done.returncode == 0, done.stdout + done.stderr

    def build(self) -> str:
        said = []
        done = self._invoke(self.warehouse, "target_plain", ["build"],
                            lambda event: said.append(event.info.msg) if event.info.name == "StatsLine" else None)
        return said[-1] if said else f"(failed) {done.exception or 'no summary'}"

    def fresh_tables(self, nodes: dict) -> dict[str, tuple]:
        fresh = self.workdir / "fresh.duckdb"
        fresh.unlink(missing_ok=True)
        # seeds first: the documented order for a seed read through a source
        self._invoke(fresh, "target_fresh", ["seed"])
        self._invoke(fresh, "target_fresh", ["build"])
        return tables(fresh, nodes)

    def _invoke(self, warehouse: Path, target: str, args: list[str], callback=None):
        """dbt's programmatic runner, on a warehouse (dbt-duckdb's connection closed after, as a run's)."""
        from dbt.cli.main import dbtRunner

        from clawdata.gold.runner import close_dbt_duckdb

        os.environ["PLAIN_WAREHOUSE"] = str(warehouse)
        try:
            return dbtRunner(callbacks=[callback] if callback else []).invoke(
                ["--quiet", "--no-use-colors", "--log-level-file", "none", *args, "--project-dir", str(self.project),
                 "--profiles-dir", str(self.profiles), "--target-path", str(self.workdir / target)])
        finally:
            close_dbt_duckdb()
            os.environ.pop("PLAIN_WAREHOUSE", None)


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
