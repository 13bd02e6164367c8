"""A loopback server that answers like the Telegram Bot API (``/bot<token>/<method>``).

Records ``sendMessage`` calls with their arrival time, serves queued updates to
``getUpdates``, and can refuse a chat with the Bot API's error JSON
(``{ok: false, error_code, description, parameters}``).
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .http_peer import HttpPeer, Reply, Request

TOKEN = "123456:TEST-token-abcdefghijklmnopqrstuvwxyz"

ERRORS = {
    403: "Forbidden: bot was blocked by the user",
    400: "Bad Request: chat not found",
}


@dataclass
class Refusal:
    status: int
    times: int
    description: str
    retry_after: int | None = None


@dataclass
class TelegramPeer:
    token: str = TOKEN
    sent: list[dict[str, Any]] = field(default_factory=list)  # form + "at" (monotonic)
    attempts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)
    refusals: dict[str, Refusal] = field(default_factory=dict)
    confirmed_offset: int = 0
    calls: list[str] = field(default_factory=list)  # Bot API methods, in order
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Seconds to wait after accepting a sendMessage before answering (the chat has it).
    answer_delay: float = 0.0

    def __post_init__(self) -> None:
        self._ids = itertools.count(100)
        self._update_ids = itertools.count(1000)
        self.http = HttpPeer(self.handle)

    def __enter__(self) -> TelegramPeer:
        self.http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.__exit__(*exc)

    @property
    def base_url(self) -> str:
        return f"{self.http.url}/bot"

    def refuse(self, chat_id: str, status: int, times: int = 10**6,
               retry_after: int | None = None, description: str | None = None) -> None:
        text = description or ("Too Many Requests: retry after " + str(retry_after)
                               if status == 429 else ERRORS[status])
        self.refusals[str(chat_id)] = Refusal(status, times, text, retry_after)

    def sent_to(self, chat_id: str) -> list[dict[str, Any]]:
        with self.lock:
            return [m for m in self.sent if m["chat_id"] == str(chat_id)]

    def user_writes(self, chat_id: int, text: str, date: int | None = None) -> None:
        """Queue an incoming private message for getUpdates; ``date`` (Unix seconds,
        default now) is when the user sent it, so a delayed update can be queued after
        a newer one."""
        with self.lock:
            self.updates.append({
                "update_id": next(self._update_ids),
                "message": {"message_id": next(self._ids),
                            "date": int(time.time()) if date is None else date,
                            "chat": {"id": chat_id, "type": "private", "first_name": "U"},
                            "from": {"id": chat_id, "is_bot": False, "first_name": "U"},
                            "text": text,
                            **({"entities": [{"type": "bot_command", "offset": 0,
                                              "length": len(text.split()[0])}]}
                               if text.startswith("/") else {})},
            })

    def _error(self, status: int, description: str,
               retry_after: int | None = None) -> Reply:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return status, body, {}

    def handle(self, request: Request) -> Reply:
        prefix = f"/bot{self.token}/"
        if not request.path.startswith(prefix):
            return self._error(401, "Unauthorized")
        method = request.path[len(prefix):]
        form = request.form()
        with self.lock:
            self.calls.append(method)
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": int(self.token.split(":")[0]),
                                                "is_bot": True, "first_name": "Shop",
                                                "username": "shop_bot"}}, {}
        if method == "getUpdates":
            return self._get_updates(form)
        if method != "sendMessage":
            return self._error(404, "Not Found")
        chat = str(form.get("chat_id"))
        with self.lock:
            self.attempts.append({**form, "at": time.monotonic()})
            refusal = self.refusals.get(chat)
            if refusal is not None and refusal.times > 0:
                refusal.times -= 1
                return self._error(refusal.status, refusal.description, refusal.retry_after)
            message_id = next(self._ids)
            self.sent.append({**form, "at": time.monotonic(), "message_id": message_id})
        if self.answer_delay:
            time.sleep(self.answer_delay)
        return 200, {"ok": True, "result": {
            "message_id": message_id, "date": int(time.time()),
            "chat": {"id": int(chat), "type": "private"}, "text": form.get("text", ""),
        }}, {}

    def _get_updates(self, form: dict[str, str]) -> Reply:
        offset = int(form.get("offset") or 0)
        deadline = time.monotonic() + min(float(form.get("timeout") or 0), 2.0)
        while True:
            with self.lock:
                if offset:
                    self.confirmed_offset = max(self.confirmed_offset, offset)
                    self.updates = [u for u in self.updates if u["update_id"] >= offset]
                pending = list(self.updates)
            if pending or time.monotonic() >= deadline:
                return 200, {"ok": True, "result": pending}, {}
            time.sleep(0.05)
