"""The declared sources: one `defs.yaml` each under the defs folder (src/clawdata/defs/sources/NAME/),
of clawdata's component types. Read here without Dagster, for what needs every source at once (the
inbox sensor, the dbt project's generated sources, `clawdata source list`); Dagster loads the same
files as components (defs/ingest/component.py). A bad declaration is refused naming its file."""

import difflib
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from clawdata.sources.spec import FileSourceSpec

DEFS_DIR = Path(__file__).resolve().parents[1] / "defs"
SOURCES_DIR = DEFS_DIR / "sources"
FILE_SOURCE = "clawdata.components.FileSource"
DATABASE_SOURCE = "clawdata.components.DatabaseSource"
TYPES = (FILE_SOURCE, DATABASE_SOURCE)
METADATA = "clawdata/declaration"  # a bronze asset's metadata: its declaration, as deployed


class DeclarationError(ValueError):
    """A declaration that cannot be loaded; the message names its file."""


@dataclass(frozen=True)
class Declared:
    spec: FileSourceSpec
    path: Path
    type: str


def read(path: Path) -> Declared | None:
    """The source declared in `path`, or None if the file declares another kind of component."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise DeclarationError(f"{path}: not valid YAML: {e}") from None
    kind = document.get("type", "")
    if kind not in TYPES:
        if isinstance(kind, str) and kind.startswith("clawdata.components."):  # Dagster's own error names no file
            close = difflib.get_close_matches(kind, TYPES, n=1, cutoff=0.6)
            raise DeclarationError(f"{path}: type {kind} is not a clawdata component"
                                   + (f"; did you mean {close[0]}?" if close else f" (they are {', '.join(TYPES)})"))
        return None
    columns = (document.get("attributes") or {}).get("columns")
    cut = [f"{c}: {t}" for c, t in columns.items() if isinstance(t, str) and t.count("(") != t.count(")")] \
        if isinstance(columns, dict) else []
    if cut:  # `{price: DECIMAL(12,2)}`: in a flow mapping the comma ends the entry
        raise DeclarationError(f"{path}: {'; '.join(cut)}: a type with a comma was cut there; quote it "
                               "('DECIMAL(12,2)') or write the columns one a line")
    try:
        return Declared(spec_type(kind).model_validate(document.get("attributes") or {}), path, kind)
    except ValidationError as e:
        raise DeclarationError(f"{path}: {describe(e)}") from None


class _DeclarationDumper(yaml.SafeDumper):
    """Mappings one entry a line, lists of plain values on one: a type edited by hand
    (`DECIMAL(12,2)`) stays one value, where a flow mapping's commas would cut it."""


_DeclarationDumper.add_representer(dict, lambda dumper, data: dumper.represent_mapping(
    "tag:yaml.org,2002:map", data, flow_style=False))
_DeclarationDumper.add_representer(list, lambda dumper, data: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", data, flow_style=not any(isinstance(v, (dict, list)) for v in data)))


def declaration_text(kind: str, attributes: dict) -> str:
    """A declaration's `defs.yaml` text (after the caller's comment header)."""
    return yaml.dump({"type": kind, "attributes": attributes}, Dumper=_DeclarationDumper, sort_keys=False,
                     allow_unicode=True, width=120)


def spec_type(kind: str):
    if kind == DATABASE_SOURCE:
        from clawdata.sources.database import DatabaseSourceSpec

        return DatabaseSourceSpec
    return FileSourceSpec


def describe(error: ValidationError) -> str:
    """Pydantic's errors in one line each: where, and what is wrong."""
    parts = []
    for e in error.errors():
        where = ".".join(str(p) for p in e["loc"])
        parts.append(f"{where + ': ' if where else ''}{e['msg'].removeprefix('Value error, ')}")
    return "; ".join(parts)


def all_sources(root: Path = DEFS_DIR) -> list[Declared]:
    """Every declared source, by name; two declaring one name are refused, naming both files."""
    found: dict[str, Declared] = {}
    for path in sorted(root.rglob("defs.yaml")):
        declared = read(path)
        if declared is None:
            continue
        other = found.get(declared.spec.name)
        if other is not None:
            raise DeclarationError(f"{path}: source '{declared.spec.name}' is declared twice (also in {other.path})")
        found[declared.spec.name] = declared
    return sorted(found.values(), key=lambda d: d.spec.name)


def specs(root: Path = DEFS_DIR) -> list[FileSourceSpec]:
    return [d.spec for d in all_sources(root)]
