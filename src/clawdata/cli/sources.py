"""`clawdata source add | list`: declare a source from a sample file or a database table, and see
the declared sources with their files, key, rows and last load."""

import fnmatch
import shlex
from pathlib import Path

from rich.table import Table

from clawdata.cli.errors import USAGE_ERROR, ClawdataError
from clawdata.cli.progress import console, escape
from clawdata.sources import declarations


def add(name: str, source: str, key: list[str], order_by: str | None, null_markers: list[str],
        table: str | None, cursor: str | None, force: bool) -> Path:
    from clawdata.sources.spec import NAME

    if not NAME.match(name):
        raise ClawdataError(f"'{name}' is not a source name: lower case letters, digits and _, starting with a letter",
                            exit_code=USAGE_ERROR)
    existing = {d.spec.name: d for d in declarations.all_sources()}
    target = declarations.SOURCES_DIR / name / "defs.yaml"
    if name in existing and not force:
        raise ClawdataError(f"source '{name}' is already declared in {existing[name].path} (--force replaces it)",
                            exit_code=USAGE_ERROR)
    if "://" in source:
        text, summary = _database_declaration(name, source, key, table, cursor)
    else:
        if table or cursor:
            raise ClawdataError("--table and --cursor are for a database source (--from postgresql://...)", exit_code=USAGE_ERROR)
        text, summary = _file_declaration(name, Path(source).expanduser(), key, order_by, null_markers)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    declarations.read(target)  # what the code location will load: refused here rather than there
    console.print(f"wrote [bold]{escape(str(target))}[/]\n{escape(summary)}")  # (a header's names, a glob's [ ]: text)
    return target


def _file_declaration(name: str, path: Path, key: list[str], order_by: str | None, null_markers: list[str]) -> tuple[str, str]:
    from clawdata import settings
    from clawdata.sources.infer import InferenceError, declaration_yaml, infer

    try:
        inferred = infer(name, path, key, order_by, null_markers)
    except InferenceError as e:
        raise ClawdataError(str(e)) from None
    spec = inferred.spec
    columns = "\n".join(f"  {n:<24} {t}{'  (key)' if n in spec.key else ''}{'  (orders versions)' if n == spec.order_by else ''}"
                        for n, t in spec.types.items())
    inbox = settings.inbox_dir()
    formats = [f"{what} read as {f}" for what, f in (("dates", spec.date_format), ("timestamps", spec.timestamp_format)) if f]
    if spec.format == "csv":
        formats += [f"fields separated by {spec.delimiter!r}"] * (spec.delimiter != ",") + \
                   [f"numbers written with a decimal comma (12,50)"] * (spec.decimal_separator == ",")
    lines = [f"{spec.format}, {inferred.rows:,} rows, {len(spec.types)} columns (the types read from the file):", columns,
             *([f"formats: {'; '.join(formats)}"] if formats else []),
             *([f"null markers: {', '.join(repr(m) for m in spec.null_markers)}"] if spec.format == "csv" else []),
             f"key: {', '.join(spec.key)}; " + (f"latest {spec.order_by} wins" if spec.order_by else "the latest delivery wins: the file last in name order, numbers compared as numbers (no --updated-at)"),
             *[f"note: {n}" for n in inferred.notes], "",
             "next:",
             f"  deliver files to {inbox}/{spec.files.inbox[0]}   (e.g. {_copy_command(path, inbox, name, spec.files.inbox)})",
             "  clawdata dagster materialize --all           (assets raw_%s and slv_%s)" % (name, name),
             f"  in dbt: select * from {{{{ source('silver', 'slv_{name}') }}}}",
             "  the stack: docker compose up -d --build user_code   (the declaration ships in the image)"]
    return declaration_yaml(spec, path), "\n".join(lines)


def _database_declaration(name, url, key, table, cursor) -> tuple[str, str]:
    from clawdata.sources.database import InspectionError, declare

    if not table:
        raise ClawdataError("a database source needs --table SCHEMA.TABLE", exit_code=USAGE_ERROR)
    from pydantic import ValidationError

    try:
        return declare(name, url, table, key, cursor)
    except InspectionError as e:
        raise ClawdataError(str(e)) from None
    except ValidationError as e:  # (a password in the URL, a key that is not a column...)
        raise ClawdataError(f"source {name}: {declarations.describe(e)}", exit_code=USAGE_ERROR) from None


def show(url: str | None) -> None:
    """The declared sources, with rows and last load from Dagster's records (local, or --url: the
    deployment's sources, as its image declares them)."""
    deployed = _deployed(url) if url else None
    specs = deployed if deployed is not None else declarations.specs()
    records = _records([k for spec in specs for k in (spec.raw_table, spec.silver_table)], url)
    table = Table(title=f"Sources ({url or 'the local instance'})", title_justify="left")
    for column in ("source", "from", "key", "bronze rows", "silver rows", "last load"):
        table.add_column(column, justify="right" if "rows" in column else "left")
    for spec in specs:
        bronze, silver = records.get(spec.raw_table), records.get(spec.silver_table)
        table.add_row(spec.name, escape(_origin(spec, False if url is None else (bronze[2] if bronze else None))), escape(", ".join(spec.key)),
                      f"{bronze[0]:,}" if bronze and bronze[0] is not None else "-",
                      f"{silver[0]:,}" if silver and silver[0] is not None else "-",
                      bronze[1] if bronze else "[yellow]never[/]")
    console.print(table)
    if deployed is not None:
        console.print(f"[dim]as deployed at {url}; declared in src/clawdata/defs/sources/NAME/defs.yaml of its image[/]")
    else:
        console.print(f"[dim]declared in {declarations.SOURCES_DIR}/NAME/defs.yaml"
                      + (" (this checkout's: the deployment's image does not say its own)" if url else "") + "[/]")


def _deployed(url: str) -> list | None:
    """The sources the deployment declares (its bronze assets carry their declarations), or None
    when its image is older than that."""
    import json

    from clawdata.cli.graphql import LOCATION, REPOSITORY, HttpGraphQL
    from clawdata.cli.queries import DECLARED_SOURCES

    group = {"groupName": "bronze", "repositoryName": REPOSITORY, "repositoryLocationName": LOCATION}
    nodes = HttpGraphQL(url)(DECLARED_SOURCES, {"group": group})["assetNodes"]
    found = [json.loads(e["jsonString"]) for node in nodes for e in node["metadataEntries"]
             if e["label"] == declarations.METADATA and e.get("jsonString")]
    if nodes and not found:
        return None
    return sorted((declarations.spec_type(d["type"]).model_validate(d["attributes"]) for d in found), key=lambda s: s.name)


def _origin(spec, deployed_files: int | None | bool = False) -> str:
    """What a source reads; how many files: here now, or (`deployed_files`, with --url) at the
    deployment's last load (the CLI cannot see its inbox)."""
    from clawdata.sources.spec import shown

    if hasattr(spec, "table"):
        return f"table {spec.table} ({spec.redacted_url})"
    inbox, sample = spec.patterns()
    if deployed_files is not False:
        count = "-" if deployed_files is None else deployed_files
        return f"{spec.format}: {shown([*inbox, *sample])} ({count} file{'s' * (count != 1)} at the last load)"
    files = spec.input_files(declarations.specs())
    return f"{spec.format}: {shown([*inbox, *sample])} ({len(files)} file{'s' * (len(files) != 1)} now)"


def _records(keys: list[str], url: str | None) -> dict[str, tuple[int | None, str, int | None]]:
    from datetime import datetime, timezone

    def when(seconds: float) -> str:
        return datetime.fromtimestamp(seconds, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")

    if url:
        from clawdata.cli.graphql import HttpGraphQL
        from clawdata.cli.queries import LATEST_MATERIALIZATIONS

        found = {}
        data = HttpGraphQL(url)(LATEST_MATERIALIZATIONS, {"keys": [{"path": [k]} for k in keys]})
        for info in data["assetsLatestInfo"]:
            m = info.get("latestMaterialization")
            if m:
                ints = {e["label"]: e.get("intValue") for e in m["metadataEntries"]}
                found[info["assetKey"]["path"][-1]] = (ints.get("dagster/row_count"), when(float(m["timestamp"]) / 1000),
                                                       ints.get("source_file_count"))
        return found
    import dagster as dg

    from clawdata.cli.local import local_instance

    with local_instance() as instance:
        latest = instance.get_latest_materialization_events([dg.AssetKey(k) for k in keys])
    found = {}
    for key, entry in latest.items():
        if entry:
            rows = entry.asset_materialization.metadata.get("dagster/row_count")
            found[key.path[-1]] = (rows.value if rows else None, when(entry.timestamp), None)
    return found


def _copy_command(path: Path, inbox: Path, name: str, patterns: list[str]) -> str:
    """A command that delivers `path` under a name the source's patterns take (its own, if they do)."""
    delivered = path.name if any(fnmatch.fnmatch(path.name, p) for p in patterns) else f"{name}_{path.name}"
    return f"cp {shlex.quote(str(path))} {shlex.quote(str(inbox / delivered))}"
