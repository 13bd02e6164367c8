"""A time budget for rendering that actually stops a runaway template.

Threads cannot be killed, and a Jinja loop is Python code that never hands control
back to us. So one watchdog thread measures the CPU time each rendering thread has
used since its message began and, once that is over the budget, raises
``RenderTimeout`` *in* that thread (CPython's ``PyThreadState_SetAsyncExc``). It
arrives at the thread's next Python instruction: inside any loop, include or macro.
(A single C call cannot be interrupted; the sandbox's size checks keep those short.)

It is only ever raised while the thread is inside a render (``arm``/``disarm``), and
disarming withdraws one that was sent but not yet delivered, so it never lands in
the caller's own code. The renderer turns it into a located ``TemplateProblem``.

CPU time, not wall-clock time: a daemon that is paused (SIGSTOP), swapped out or
starved by other processes does not fail its messages; a template that computes
does. Cost per render: two uncontended lock round trips and a dict update.
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


@dataclass(eq=False)
class Budget:
    seconds: float
    thread_id: int
    clock: int | None  # the thread's CPU clock; None where the platform has none
    started: float | None = None  # set by the watchdog when it first sees the budget
    armed: bool = False
    fired: bool = False
    expired: bool = False

    def now(self) -> float:
        return time.clock_gettime(self.clock) if self.clock is not None else time.monotonic()


@dataclass(eq=False)
class Watchdog:
    tick: float = TICK
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _budgets: dict[int, Budget] = field(default_factory=dict)
    _thread: threading.Thread | None = None
    _local: threading.local = field(default_factory=threading.local)

    def begin(self, seconds: float) -> Budget:
        """A budget of ``seconds`` of this thread's CPU time, counted from now."""
        if self._thread is None:
            self._start()
        budget = Budget(seconds, threading.get_ident(), self._clock())
        with self._lock:
            self._budgets[id(budget)] = budget
        return budget

    def end(self, budget: Budget) -> None:
        with self._lock:
            self._budgets.pop(id(budget), None)
            self._withdraw(budget)

    def arm(self, budget: Budget) -> None:
        """From now on the watchdog may interrupt this thread (raises at once when the
        budget is already used up)."""
        with self._lock:
            if budget.expired:
                raise RenderTimeout
            budget.armed = True

    def disarm(self, budget: Budget) -> None:
        """No interruption from here on; idempotent (call it again after catching
        RenderTimeout: it may have arrived inside the first call)."""
        with self._lock:
            budget.armed = False
            self._withdraw(budget)

    def _withdraw(self, budget: Budget) -> None:
        if budget.fired:  # sent, perhaps not yet delivered: take it back
            _async_raise(budget.thread_id, None)

    def _clock(self) -> int | None:
        clock = getattr(self._local, "clock", False)
        if clock is False:
            try:
                clock = time.pthread_getcpuclockid(threading.get_ident())
            except (AttributeError, OSError):  # no per-thread CPU clocks here
                clock = None
            self._local.clock = clock
        return clock

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
                for budget in self._budgets.values():
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
        self._budgets = {}
        self._thread = None


def _async_raise(thread_id: int, exception: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exception) if exception else None)


WATCHDOG = Watchdog()
os.register_at_fork(after_in_child=WATCHDOG._after_fork)
