"""A/B experiments: variant config, deterministic assignment, and the sender's overrides."""
