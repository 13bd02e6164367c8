"""Import customers, orders and carts from CSV or JSONL."""

from dispatcher.importer.read import FileError, TextFormat
from dispatcher.importer.run import ImportReport, RowError, import_file

__all__ = ["FileError", "ImportReport", "RowError", "TextFormat", "import_file"]
