"""FileSource: delivered files (CSV, Parquet, JSON lines) become bronze and silver assets, declared in YAML.

Everything the shipped sources have comes with a declaration: the delivery ledger (only new and
re-delivered files are read), the merge by key into silver, write-audit-publish with blocking
checks, the inbox sensor, the replica, `--full-refresh`, column descriptions, and a dbt source
`source('silver', 'slv_NAME')` generated into the dbt project (gold/project.py). The attributes are
clawdata.sources.spec.FileSourceSpec's; the core that reads and merges files is Dagster-free.
"""

import textwrap

import dagster as dg

from clawdata.defs.ingest.assets import build_ingest_assets
from clawdata.sources.spec import FileSourceSpec


class FileSourceScaffolder(dg.Scaffolder):
    """`dg scaffold defs clawdata.components.FileSource sources/NAME`: a declaration to fill in."""

    def scaffold(self, request: dg.ScaffoldRequest) -> None:
        name = request.target_path.name
        request.target_path.mkdir(parents=True, exist_ok=True)
        (request.target_path / "defs.yaml").write_text(textwrap.dedent(f"""\
            # `clawdata source add {name} --from FILE --key COL` writes this from a sample file, types inferred.
            type: {request.type_name}
            attributes:
              name: {name}
              description: ""
              format: csv              # csv | parquet | jsonl
              key: [id]                # one or more columns: one row per key in silver
              order_by: updated_at     # the latest value wins; null: the latest delivery wins
              null_markers: ["", NA]
              columns:
                id: BIGINT
                updated_at: TIMESTAMP
            """))


@dg.scaffold_with(FileSourceScaffolder)
class FileSource(dg.Component, dg.Resolvable, FileSourceSpec):
    """A source of delivered files: `raw_NAME` (bronze) and `slv_NAME` (silver)."""

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return dg.Definitions(assets=build_ingest_assets(self, str(context.path / "defs.yaml")))
