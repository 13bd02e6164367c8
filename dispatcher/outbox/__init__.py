"""The outbox: the ledger that makes sends at-most-once.

``states`` names the states of a row; ``ledger`` is the only code that moves a row
between ``pending``, ``sending`` and its outcome (claim, start mark, record, release,
recover), each move fenced by the claim that owns the row.
"""

from dispatcher.store.states import FINAL, OutboxStatus

__all__ = ["FINAL", "OutboxStatus"]
