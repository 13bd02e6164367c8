"""Customer protection: consent, preferences, caps, quiet hours, bounces, erasure."""
