"""Rendering: templates in a sandbox, the context they see, per-channel composition."""
