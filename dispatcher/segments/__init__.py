"""The segment language: YAML filters compiled to one SQL query, never raw SQL."""

from dispatcher.segments.parse import SegmentError, parse_segments
from dispatcher.segments.sql import SegmentSQL

__all__ = ["SegmentError", "SegmentSQL", "parse_segments"]
