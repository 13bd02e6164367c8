"""Import customers, orders and carts from CSV or JSONL."""

from .read import FileError, TextFormat
from .run import ImportReport, RowError, import_file

__all__ = ["FileError", "ImportReport", "RowError", "TextFormat", "import_file"]
