"""A/B reports (attribution in SQL, statistics in Python) and shop-wide retention metrics."""
