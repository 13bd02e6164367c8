"""Import customers, orders and carts from CSV or JSONL."""

from .run import ImportReport, RowError, import_file

__all__ = ["ImportReport", "RowError", "import_file"]
