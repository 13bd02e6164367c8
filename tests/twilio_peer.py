"""A loopback server that answers like Twilio's Messages API (2010-04-01).

It checks HTTP Basic auth against the account, records every accepted message,
and can be told to refuse messages to a number with Twilio's error JSON
(``{code, message, more_info, status}``), optionally with a Retry-After header.
"""

from __future__ import annotations

import base64
import itertools
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .http_peer import HttpPeer, Reply, Request

ACCOUNT_SID = "AC" + "0" * 30 + "1"
AUTH_TOKEN = "twilio-test-token-0123456789abcdef"
MESSAGES = re.compile(r"^/2010-04-01/Accounts/(AC\w+)/Messages\.json$")

ERROR_TEXT = {
    21610: "Attempt to send to unsubscribed recipient",
    21211: "The 'To' number +1555 is not a valid phone number.",
    21614: "'To' number is not a valid mobile number",
    20429: "Too Many Requests",
    20003: "Authenticate",
}


@dataclass
class Refusal:
    status: int
    code: int
    times: int  # how many attempts to refuse (then accept)
    retry_after: int | None = None


@dataclass
class TwilioPeer:
    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    messages: list[dict[str, str]] = field(default_factory=list)
    attempts: list[dict[str, str]] = field(default_factory=list)
    refusals: dict[str, Refusal] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Seconds to wait after accepting a message before answering (a slow API: the
    # message exists at Twilio even if the client gave up waiting).
    answer_delay: float = 0.0

    def __post_init__(self) -> None:
        self._ids = itertools.count(1)
        self.http = HttpPeer(self.handle)

    def __enter__(self) -> TwilioPeer:
        self.http.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.__exit__(*exc)

    @property
    def url(self) -> str:
        return self.http.url

    def refuse(self, to: str, code: int, status: int = 400, times: int = 10**6,
               retry_after: int | None = None) -> None:
        self.refusals[to] = Refusal(status, code, times, retry_after)

    def sent_to(self, number: str) -> list[dict[str, str]]:
        with self.lock:
            return [m for m in self.messages if m["To"] == number]

    def _error(self, status: int, code: int, headers: dict[str, str] | None = None) -> Reply:
        return status, {"code": code, "message": ERROR_TEXT.get(code, "Error"),
                        "more_info": f"https://www.twilio.com/docs/errors/{code}",
                        "status": status}, headers or {}

    def handle(self, request: Request) -> Reply:
        match = MESSAGES.match(request.path)
        if request.method != "POST" or not match:
            return self._error(404, 20404)
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if request.headers.get("authorization") != f"Basic {expected}" \
                or match.group(1) != self.account_sid:
            return self._error(401, 20003)
        form = request.form()
        with self.lock:
            self.attempts.append(form)
            refusal = self.refusals.get(form.get("To", ""))
            if refusal is not None and refusal.times > 0:
                refusal.times -= 1
                headers = {"Retry-After": str(refusal.retry_after)} if refusal.retry_after else {}
                return self._error(refusal.status, refusal.code, headers)
            if not form.get("To") or not (form.get("From") or form.get("MessagingServiceSid")):
                return self._error(400, 21604)
            sid = f"SM{next(self._ids):032x}"
            self.messages.append({**form, "sid": sid})
        if self.answer_delay:
            time.sleep(self.answer_delay)
        now = datetime.now(UTC).strftime("%a, %d %b %Y %H:%M:%S +0000")
        return 201, {
            "sid": sid, "account_sid": self.account_sid, "to": form["To"],
            "from": form.get("From"), "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form.get("Body", ""), "status": "queued", "direction": "outbound-api",
            "num_segments": "1", "num_media": "0", "date_created": now, "date_updated": now,
            "date_sent": None, "error_code": None, "error_message": None, "price": None,
            "price_unit": "USD", "api_version": "2010-04-01",
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}"
                                          f"/Messages/{sid}/Media.json"},
        }, {}
