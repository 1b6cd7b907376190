"""clawdata's component types (`dg list components`): a source is a declaration, one `defs.yaml`
under defs/ (e.g. defs/sources/orders/defs.yaml), started with
`dg scaffold defs clawdata.components.FileSource sources/NAME` or `clawdata source add`."""

from clawdata.components.database_source import DatabaseSource
from clawdata.components.file_source import FileSource

__all__ = ["DatabaseSource", "FileSource"]
