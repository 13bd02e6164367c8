"""Twilio webhooks: inbound SMS (STOP / START keywords) and delivery status callbacks.

Both endpoints trust a request only if its ``X-Twilio-Signature`` is valid for our
auth token and the public URL Twilio was given (``shop.public_url`` + path): a
forged or replayed-elsewhere request is refused with 403 and changes nothing.

A signature has no time in it, so a captured request stays valid: each inbound
message's ``MessageSid`` is recorded with the consent change it caused, and the same
sid arriving again (a retry, or a replay) changes nothing. Inbound SMS carry no
timestamp of their own; a change is dated when it first arrives, and a change older
than an address's current consent never overrides it (dispatcher/policy/optout.py).

Configure in Twilio: the number's (or Messaging Service's) incoming-message
webhook -> ``{public_url}/twilio/inbound``; ``channels.sms.status_callback`` ->
``{public_url}/twilio/status``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import select, update
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from channels.base import Gone
from channels.sms_classify import classify_twilio_code
from channels.sms_settings import SmsSettings
from dispatcher.clock import utcnow
from dispatcher.policy.optout import ConsentChange, apply_consent_change
from dispatcher.policy.optout_board import announced
from dispatcher.policy.receipts import first_receipt
from dispatcher.policy.suppress import record_gone
from dispatcher.store.schema import outbox
from dispatcher.tracking.delivery import delivered_from_receipt
from dispatcher.web.app import WebState
from dispatcher.web.bodies import BadBody, read_form

log = logging.getLogger("dispatcher.twilio")

OPT_OUT = frozenset({"STOP", "STOPALL", "STOP ALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                     "OPTOUT", "REVOKE"})
OPT_IN = frozenset({"START", "YES", "UNSTOP"})
# SM... (SMS) or MM... (MMS): two letters and 32 hex digits.
MESSAGE_SID = re.compile(r"[SM]M[0-9a-fA-F]{32}")
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
# Later states win; a late "sent" must not overwrite "delivered".
STATUS_RANK = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
               "delivered": 4, "undelivered": 4, "failed": 4, "read": 5}


def keyword(body: str) -> str:
    """The opt-out/in keyword Twilio would match: the whole message, trimmed."""
    return " ".join(body.strip().strip(".!").upper().split())


def consent_change(form: dict[str, str]) -> ConsentChange | None:
    """Pure: what an inbound SMS means for consent (None: not a keyword)."""
    word = (form.get("OptOutType") or keyword(form.get("Body", ""))).upper()
    sender = form.get("From", "")
    if not sender:
        return None
    if word in OPT_OUT:
        return ConsentChange("sms", sender, False, f"sms:{word}", form.get("Body"))
    if word in OPT_IN:
        return ConsentChange("sms", sender, True, f"sms:{word}", form.get("Body"))
    return None


class _Verifier:
    def __init__(self, state: WebState) -> None:
        self.state = state

    async def form(self, request: Request) -> dict[str, str] | None:
        settings = self.state.loaded.channel_settings.get("sms")
        if not isinstance(settings, SmsSettings) or settings.auth_token is None:
            return None  # no token: nothing can be verified, so nothing is trusted
        from twilio.request_validator import RequestValidator  # the sms extra

        params = dict(await read_form(request))
        public = self.state.loaded.config.shop.public_url.rstrip("/")
        url = public + request.url.path + (f"?{request.url.query}" if request.url.query else "")
        signature = request.headers.get("X-Twilio-Signature", "")
        validator = RequestValidator(settings.auth_token.get_secret_value())
        if not signature or not validator.validate(url, params, signature):
            return None
        return params


def routes(state: WebState) -> list[BaseRoute]:
    verifier = _Verifier(state)

    async def inbound(request: Request) -> Response:
        try:
            form = await verifier.form(request)
        except BadBody as exc:
            return PlainTextResponse(exc.message, status_code=exc.status)
        if form is None:
            return PlainTextResponse("invalid Twilio signature", status_code=403)
        change = consent_change(form)
        if change is not None:
            sid = form.get("MessageSid", "")
            if not MESSAGE_SID.fullmatch(sid):
                return PlainTextResponse("MessageSid missing or malformed", status_code=400)
            touched = await announced(_apply, state, change, sid)
            if touched is None:
                log.info("sms consent change already received; ignored",
                         extra={"source": change.source})
            else:
                log.info("sms consent change", extra={"source": change.source,
                                                      "addresses": touched})
        return Response(EMPTY_TWIML, media_type="text/xml")

    async def status(request: Request) -> Response:
        try:
            form = await verifier.form(request)
        except BadBody as exc:
            return PlainTextResponse(exc.message, status_code=exc.status)
        if form is None:
            return PlainTextResponse("invalid Twilio signature", status_code=403)
        sid, state_name = form.get("MessageSid"), (form.get("MessageStatus") or "").lower()
        if sid and state_name:
            await announced(record_delivery, state, sid, state_name,
                            form.get("ErrorCode") or None)
        return Response(status_code=204)

    return [Route("/twilio/inbound", inbound, methods=["POST"]),
            Route("/twilio/status", status, methods=["POST"])]


def _apply(state: WebState, change: ConsentChange, message_sid: str) -> int | None:
    """Apply the change of a message seen for the first time; None for a repeat."""
    now = utcnow()
    with state.engine.begin() as conn:
        if not first_receipt(conn, "twilio", message_sid, now):
            return None
        return apply_consent_change(conn, change, now)


def record_delivery(state: WebState, sid: str, status: str, error_code: str | None) -> bool:
    """Put a delivery status on the outbox row Twilio's message id belongs to."""
    now = utcnow()
    with state.engine.begin() as conn:
        row: Any = conn.execute(
            select(outbox.c.id, outbox.c.address_id, outbox.c.campaign,
                   outbox.c.delivery_status)
            .where(outbox.c.provider_id == sid, outbox.c.channel == "sms")).first()
        if row is None:
            return False
        if STATUS_RANK.get(status, 0) < STATUS_RANK.get(row.delivery_status or "", -1):
            return False  # callbacks can arrive out of order
        conn.execute(update(outbox).where(outbox.c.id == row.id).values(
            delivery_status=status[:16], delivery_code=error_code, delivery_at=now,
            delivered=delivered_from_receipt(status), updated_at=now))
        if error_code and error_code.isdigit() and status in ("undelivered", "failed"):
            outcome = classify_twilio_code(int(error_code))
            if isinstance(outcome, Gone):
                record_gone(conn, "sms", row.address_id, outcome, row.campaign, now)
    return True
