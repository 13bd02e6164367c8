"""Sending: claim due outbox rows, check them once more, render, hand to a channel, record."""
