"""The opt-out board: what a lane's last look sees, and an answer that waits for a flight."""

from __future__ import annotations

import asyncio

from dispatcher.policy.optout_board import (
    FORGOTTEN,
    SUPPRESSED,
    TOPIC_OPTED_OUT,
    Notes,
    OptOutBoard,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_only_opt_outs_announced_since_the_mark_stop_a_message() -> None:
    clock = Clock()
    board = OptOutBoard(clock=clock)
    board.announce(Notes(addresses={("email", "h1")}))  # before the mark: the mark saw it
    clock.now = 101.0
    marked = clock()
    assert board.last_look("email", "h1", "c1", "news", marked)[0] is None
    clock.now = 102.0
    board.announce(Notes(addresses={("email", "h2")}, topics={("c3", "news")}))
    assert board.last_look("email", "h2", "c2", "news", marked) == (SUPPRESSED, None)
    assert board.last_look("email", "h3", "c3", "news", marked) == (TOPIC_OPTED_OUT, None)
    assert board.last_look("sms", "h2", "c2", "news", marked)[0] is None  # other channel
    assert board.last_look("email", "h3", "c3", "sale", marked)[0] is None  # other topic


def test_a_message_marked_before_what_the_board_forgot_is_not_sent_blind() -> None:
    clock = Clock()
    board = OptOutBoard(keep=10.0, clock=clock)
    marked = clock()
    clock.now = 101.0
    board.announce(Notes(addresses={("email", "h1")}))
    clock.now = 200.0
    board.announce(Notes(addresses={("email", "h2")}))  # forgets h1
    assert len(board) == 1
    assert board.last_look("email", "h9", "c9", None, marked) == (FORGOTTEN, None)


def test_the_answer_waits_for_a_send_already_past_its_last_look() -> None:
    async def scenario() -> list[str]:
        board = OptOutBoard()
        events: list[str] = []
        stopped, flight = board.last_look("email", "h1", "c1", None, board.now())
        assert stopped is None and flight is not None

        async def provider_call() -> None:
            await asyncio.sleep(0.05)
            events.append("sent")
            board.land(flight)

        async def opt_out() -> None:
            await board.wait_landed(board.announce(Notes(addresses={("email", "h1")})))
            events.append("answered")

        await asyncio.gather(opt_out(), provider_call())
        # and an unrelated opt-out does not wait at all
        _, other = board.last_look("email", "h2", "c2", None, board.now())
        assert board.announce(Notes(addresses={("email", "h3")})) == []
        assert other is not None
        board.land(other)
        return events

    assert asyncio.run(scenario()) == ["sent", "answered"]
