"""A scripted in-process channel: each send does what the test says (like Dramatiq's
StubBroker, it ships with the package and runs the real sender around it).

    channel = ScriptedChannel()
    channel.script("olena@example.com", Answer(Unknown("no answer"), delivered=True))
    # first send: the recipient gets it, the answer is lost; any later send: delivered

It records every provider call (``calls``) and what each recipient actually received
(``received``). A provider that deduplicates by our message id (what a channel declared
``idempotent: true`` promises) is ``ScriptedChannel(dedupes=True)``: a second copy of
the same outbox row is taken but not delivered again.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

from channels.base import Channel, Outcome, RenderedMessage, Unknown


@dataclass(frozen=True)
class Answer:
    """What one send does: raise so that classify returns ``outcome``; ``delivered``:
    the recipient got the message anyway (an answer lost after delivery)."""

    outcome: Outcome
    delivered: bool = False


class ScriptedFailure(Exception):
    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.outcome = outcome


class ScriptedChannel(Channel):
    name = "scripted"

    def __init__(self, dedupes: bool = False) -> None:
        self.dedupes = dedupes
        self.calls: list[RenderedMessage] = []
        self.received: dict[str, list[RenderedMessage]] = defaultdict(list)
        self._scripts: dict[str, deque[Answer]] = {}

    def script(self, to: str, *answers: Answer) -> None:
        """The next sends to ``to`` answer these, in order; after them, delivered."""
        self._scripts[to] = deque(answers)

    def calls_to(self, to: str) -> int:
        return sum(1 for m in self.calls if m.to == to)

    async def send(self, message: RenderedMessage) -> str:
        self.calls.append(message)
        queued = self._scripts.get(message.to)
        answer = queued.popleft() if queued else None
        if answer is None or answer.delivered:
            self._deliver(message)
        if answer is not None:
            raise ScriptedFailure(answer.outcome)
        return f"scripted:{len(self.calls)}"

    def _deliver(self, message: RenderedMessage) -> None:
        inbox = self.received[message.to]
        if self.dedupes and any(m.outbox_id == message.outbox_id for m in inbox):
            return  # the provider drops a duplicate of the same message
        inbox.append(message)

    def classify(self, error: BaseException) -> Outcome:
        if isinstance(error, ScriptedFailure):
            return error.outcome
        return Unknown(f"unexpected {type(error).__name__}")
