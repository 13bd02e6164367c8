"""The daemon's small ASGI app: unsubscribe, preferences, webhooks, events, metrics."""
