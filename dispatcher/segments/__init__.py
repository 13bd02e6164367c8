"""The segment language: YAML filters compiled to one SQL query, never raw SQL."""

from .parse import SegmentError, parse_segments
from .sql import SegmentSQL

__all__ = ["SegmentError", "SegmentSQL", "parse_segments"]
