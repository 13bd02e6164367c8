"""The long-running ``dispatcher run`` service: schedules, HTTP, background services, sender."""
