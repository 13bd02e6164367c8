"""A time budget for rendering that actually stops a runaway template.

Threads cannot be killed, and a Jinja loop is Python code that never hands control
back to us. So one watchdog thread measures the CPU time each rendering thread has
used on a message (from the first time it sees the message's render) and, once that
is over the budget, raises ``RenderTimeout`` *in* that thread (CPython's
``PyThreadState_SetAsyncExc``). It arrives at the thread's next Python instruction:
inside any loop, include or macro.
(A single C call cannot be interrupted; the sandbox's size checks keep those short.)

It is only ever raised while the thread is inside a render (``arm``/``disarm``), and
disarming withdraws one that was sent but not yet delivered, so it never lands in
the caller's own code. The renderer turns it into a located ``TemplateProblem``.

CPU time, not wall-clock time: a daemon that is paused (SIGSTOP), swapped out or
starved by other processes does not fail its messages; a template that computes
does. Cost per template part: two uncontended lock round trips and a dict update.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from dataclasses import dataclass, field

TICK = 0.05  # seconds between the watchdog's looks: the budget's resolution


class RenderTimeout(BaseException):
    """Raised asynchronously in a rendering thread that used up its time budget.

    A BaseException, so that no ``except Exception`` in Jinja or a filter swallows it."""


class Budget:
    __slots__ = ("armed", "clock", "expired", "fired", "seconds", "started", "thread_id")

    def __init__(self, seconds: float, thread_id: int, clock: int | None) -> None:
        self.seconds = seconds
        self.thread_id = thread_id
        self.clock = clock  # the thread's CPU clock; None where the platform has none
        self.started: float | None = None  # set when the watchdog first sees the budget
        self.armed = False
        self.fired = False
        self.expired = False

    def now(self) -> float:
        return time.clock_gettime(self.clock) if self.clock is not None else time.monotonic()


class _ThreadClock(threading.local):
    known = False
    clock: int | None = None


@dataclass(eq=False)
class Watchdog:
    tick: float = TICK
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _armed: dict[int, Budget] = field(default_factory=dict)  # the renders under way
    _thread: threading.Thread | None = None
    _local: _ThreadClock = field(default_factory=lambda: _ThreadClock())

    def budget(self, seconds: float) -> Budget:
        """A budget of ``seconds`` of this thread's CPU time, spent while it is armed
        (and between two armings of it)."""
        if self._thread is None:
            self._start()
        return Budget(seconds, threading.get_ident(), self._clock())

    def arm(self, budget: Budget) -> None:
        """From now on the watchdog may interrupt this thread (raises at once when the
        budget is already used up)."""
        with self._lock:
            if budget.expired:
                raise RenderTimeout
            budget.armed = True
            self._armed[id(budget)] = budget

    def disarm(self, budget: Budget) -> None:
        """No interruption from here on; idempotent (call it again after catching
        RenderTimeout: it may have arrived inside the first call)."""
        with self._lock:
            budget.armed = False
            self._armed.pop(id(budget), None)
            if budget.fired:  # sent, perhaps not yet delivered: take it back
                _async_raise(budget.thread_id, None)

    def _clock(self) -> int | None:
        local = self._local
        if not local.known:
            try:
                local.clock = time.pthread_getcpuclockid(threading.get_ident())
            except (AttributeError, OSError):  # no per-thread CPU clocks here
                local.clock = None
            local.known = True
        return local.clock

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="render-watchdog",
                                                daemon=True)
                self._thread.start()

    def _watch(self) -> None:
        while True:
            time.sleep(self.tick)
            with self._lock:
                for budget in self._armed.values():
                    now = budget.now()
                    if budget.started is None:
                        budget.started = now
                    elif now - budget.started > budget.seconds:
                        budget.expired = True
                        if budget.armed and not budget.fired:
                            budget.fired = True
                            _async_raise(budget.thread_id, RenderTimeout)

    def _after_fork(self) -> None:
        # The watchdog thread does not survive fork(); the child starts its own.
        self._lock = threading.Lock()
        self._armed = {}
        self._thread = None


def _async_raise(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None)


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG._after_fork)
