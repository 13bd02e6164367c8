"""Opt-outs committed in this process, told to its send lanes before anyone is answered.

The start mark re-reads consent in the database, but marks run ahead of the workers
(``daemon.start_ahead``), so a marked message may wait about one send in its lane. The
web app, the Telegram bot and the sender share one process in ``dispatcher run``: an
opt-out written there is announced on this board the moment its transaction commits,
before the HTTP 200 (or the bot's reply) goes out, and each lane looks here right before
it hands a job to the provider. A send that had passed that look when the opt-out came
is already on the wire: the answer waits until its provider call is over, so nothing
starts towards an address after its opt-out was answered.

    a writer, inside its transaction     note_addresses((channel, hash), ...) / note_topic
    the call site, around the writer     await announced(write, ...)  (write runs in a
                                         thread and commits; then its notes go on the
                                         board; then it waits for the sends to those
                                         addresses already in a provider call)
    a lane, at the last moment           board.last_look(..., since=the job's mark)
                                         -> a skip reason, or a Flight to land() after
                                         the provider call

Only announcements made after a job's mark began count: anything committed before that
was seen by the mark itself, and an opt-in that came later must not be undone by an old
opt-out. Entries are kept ``keep`` seconds (bounded memory); a job marked before the
oldest forgotten entry gets ``FORGOTTEN`` and is given back rather than sent blind.
Opt-outs committed by other processes (``dispatcher serve``, another daemon, an import)
never reach this board: for those the start mark is the last word.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Final, ParamSpec, TypeVar

# The reasons a lane records, named as outbox.reachable.skip_reason names them. Every
# address-level opt-out writes a suppression (an unsubscribe, STOP, /stop, a blocked bot,
# a hard bounce, the provider's "gone"), and skip_reason names a suppressed address
# "suppressed" before it looks at consent: so does the board.
SUPPRESSED, TOPIC_OPTED_OUT = "suppressed", "topic_opted_out"
FORGOTTEN: Final = "forgotten"  # the job waited longer than the board remembers
# An opt-out's answer waits at most this long for a send already on the wire to it.
LANDING_WAIT: Final = 60.0

log = logging.getLogger("dispatcher.policy.optout")
Key = tuple[str, str, str]  # ("address", channel, hash) or ("topic", customer, topic)


class Flight:
    """A send past its last look and not yet back from the provider call."""

    __slots__ = ("keys", "waiters")

    def __init__(self, keys: tuple[Key, Key]) -> None:
        self.keys = keys
        self.waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []


@dataclass
class Notes:
    """What a writer stopped: (channel, address hash) and (customer, topic) pairs."""

    addresses: set[tuple[str, str]] = field(default_factory=set)
    topics: set[tuple[str, str]] = field(default_factory=set)


P = ParamSpec("P")
R = TypeVar("R")
_pending: ContextVar[Notes | None] = ContextVar("optout_board_pending", default=None)


def note_addresses(*pairs: tuple[str, str]) -> None:
    """A writer suppressed these (channel, address hash) pairs. Noted for ``announced``;
    outside it (a CLI command, an import) nothing listens and nothing happens."""
    notes = _pending.get()
    if notes is not None:
        notes.addresses.update(pairs)


def note_topic(customer_id: str, topic: str) -> None:
    """A writer switched ``topic`` off for ``customer_id``."""
    notes = _pending.get()
    if notes is not None:
        notes.topics.add((customer_id, topic))


def noting(function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs
           ) -> tuple[R, Notes]:
    """Call ``function`` (which commits its own transactions) and return what its writers
    noted. If it raises, nothing was committed for sure and nothing is returned."""
    notes = Notes()
    token = _pending.set(notes)
    try:
        return function(*args, **kwargs), notes
    finally:
        _pending.reset(token)


async def announced(function: Callable[P, R], /, *args: P.args, **kwargs: P.kwargs) -> R:
    """Run ``function`` in a worker thread; once it has committed, put the opt-outs its
    writers noted on the board, and wait until the sends to those addresses that were
    already past their last look have left the provider call. The caller answers "done"
    after this: nothing starts towards an address after its opt-out was answered."""
    result, notes = await asyncio.to_thread(noting, function, *args, **kwargs)
    await BOARD.wait_landed(BOARD.announce(notes))
    return result


class OptOutBoard:
    """Recent in-process opt-outs by address and by (customer, topic), and the sends on
    the wire; thread-safe (the writers may run in worker threads, the lanes on the event
    loop). O(1) per lookup, no database."""

    def __init__(self, keep: float = 900.0, max_entries: int = 200_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.keep = keep
        self.max_entries = max_entries
        self.now = clock
        self._lock = threading.Lock()
        self._entries: dict[Key, tuple[float, str]] = {}  # key -> (announced, reason)
        self._order: deque[tuple[float, Key]] = deque()  # oldest first
        self._horizon = float("-inf")  # announcements up to here may be forgotten
        self._flying: dict[Key, set[Flight]] = {}

    def announce(self, notes: Notes) -> list[Flight]:
        """Put ``notes`` on the board; the sends to them already on the wire."""
        if not notes.addresses and not notes.topics:
            return []
        stopped = [(("address", *key), SUPPRESSED) for key in notes.addresses]
        stopped += [(("topic", *key), TOPIC_OPTED_OUT) for key in notes.topics]
        flying: set[Flight] = set()
        with self._lock:
            at = self.now()
            for key, reason in stopped:
                self._entries[key] = (at, reason)
                self._order.append((at, key))
                flying.update(self._flying.get(key, ()))
            self._forget_old(at)
        return list(flying)

    def last_look(self, channel: str, address_hash: str | None, customer_id: str,
                  topic: str | None, since: float) -> tuple[str | None, Flight | None]:
        """Right before a provider call: the skip reason for a message marked at
        ``since`` (this board's clock) if an opt-out for it was announced since
        (``FORGOTTEN`` if the board cannot tell), else the send's ``Flight``, which the
        caller must ``land`` once the provider call is over. One lock: an announcement
        either comes before (and stops the send) or sees the flight (and waits for it)."""
        keys: tuple[Key, Key] = (("address", channel, address_hash or ""),
                                 ("topic", customer_id, topic or ""))
        with self._lock:
            if (stopped := self._stopped(keys, since)) is not None:
                return stopped, None
            flight = Flight(keys)
            for key in keys:
                self._flying.setdefault(key, set()).add(flight)
        return None, flight

    def land(self, flight: Flight) -> None:
        with self._lock:
            for key in flight.keys:
                flights = self._flying.get(key)
                if flights is not None:
                    flights.discard(flight)
                    if not flights:
                        del self._flying[key]
            waiters, flight.waiters = flight.waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_settle, future)

    async def wait_landed(self, flights: list[Flight], timeout: float = LANDING_WAIT) -> None:
        """Until every one of ``flights`` has landed (at most ``timeout`` seconds)."""
        if not flights:
            return
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[None]] = []
        with self._lock:
            for flight in flights:
                if any(flight in self._flying.get(key, ()) for key in flight.keys):
                    future: asyncio.Future[None] = loop.create_future()
                    flight.waiters.append((loop, future))
                    futures.append(future)
        if futures:
            _done, late = await asyncio.wait(futures, timeout=timeout)
            if late:
                log.warning("an opt-out was answered while %d send(s) to it were still "
                            "in a provider call", len(late))

    def why_stopped(self, channel: str, address_hash: str | None, customer_id: str,
                    topic: str | None, since: float) -> str | None:
        """The skip reason for a message marked at ``since``, if any (no flight)."""
        with self._lock:
            return self._stopped((("address", channel, address_hash or ""),
                                  ("topic", customer_id, topic or "")), since)

    def _stopped(self, keys: tuple[Key, Key], since: float) -> str | None:
        if since <= self._horizon:
            return FORGOTTEN
        for key in keys:
            known = self._entries.get(key)
            if known is not None and known[0] >= since:
                return known[1]
        return None

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _forget_old(self, now: float) -> None:
        order = self._order
        while order and (order[0][0] < now - self.keep or len(order) > self.max_entries):
            at, key = order.popleft()
            known = self._entries.get(key)
            if known is not None and known[0] == at:  # else announced again since
                del self._entries[key]
            self._horizon = max(self._horizon, at)


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# The process's board: the writers of ``dispatcher run``'s web app and bot announce here,
# its senders' lanes look here.
BOARD = OptOutBoard()
