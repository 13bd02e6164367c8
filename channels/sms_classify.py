"""What a Twilio error means for the message and the recipient (a pure table).

    SmsProviderError(status, code, message, retry_after)   the API answered with an error
    ├── 21610, 30004                 Gone(SUPPRESS)     replied STOP / blocked
    ├── 21211, 21614, 30005, 30006   Gone(INVALIDATE)   the number is invalid: mark it
    ├── 20429, 14107, 30001, HTTP 429   Retry           (Retry-After honoured)
    ├── 20003, 20404, 21606, 30002, ... Retry, systemic: our account or sender; nothing
    │                                   was sent, the error-rate guard pauses the campaign
    ├── 30007                        Fail, systemic     filtered by the carrier
    ├── HTTP 503                     Retry, systemic    Twilio did not take the request
    ├── other HTTP 5xx               Unknown, systemic  Twilio may have created the message
    └── anything else                Fail
    connection never made (refused, DNS, TLS, connect timeout)
                                     Retry, systemic    the request never left
    timeout / dropped connection after the request went out
                                     Unknown, systemic  Twilio may have it: no second text

Codes 30003-30008 usually arrive later, in delivery status callbacks; the same
table classifies them there (``classify_twilio_code``).
Reference: https://www.twilio.com/docs/api/errors
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from channels.base import Fail, Gone, GoneAction, Outcome, Retry, Unknown

SUPPRESS, INVALIDATE = GoneAction.SUPPRESS, GoneAction.INVALIDATE

# code: (what to do, reason, systemic)
TWILIO_CODES: dict[int, tuple[type[Outcome] | GoneAction, str, bool]] = {
    21610: (SUPPRESS, "recipient replied STOP (unsubscribed)", False),
    30004: (SUPPRESS, "message blocked by the recipient or carrier", False),
    21211: (INVALIDATE, "invalid 'To' phone number", False),
    21614: (INVALIDATE, "'To' is not a valid mobile number", False),
    30005: (INVALIDATE, "unknown destination handset", False),
    30006: (INVALIDATE, "landline or unreachable carrier", False),
    21612: (Fail, "'To' number cannot be reached by SMS from this sender", False),
    21617: (Fail, "message body over 1600 characters", False),
    21608: (Fail, "trial account: number not verified", False),
    30007: (Fail, "filtered by the carrier (content or sender flagged)", True),
    20429: (Retry, "too many requests", False),
    14107: (Retry, "SMS rate limit exceeded", False),
    30001: (Retry, "queue overflow", False),
    30003: (Retry, "destination handset unreachable", False),
    30008: (Retry, "unknown delivery error", False),
    20003: (Retry, "Twilio authentication failed (check TWILIO_ACCOUNT_SID/AUTH_TOKEN)", True),
    20404: (Retry, "Twilio resource not found (check the account SID)", True),
    21408: (Retry, "sending to this region is not enabled on the account", True),
    21606: (Retry, "'From' number cannot send SMS", True),
    21659: (Retry, "'From' is not a Twilio number of this account", True),
    30002: (Retry, "Twilio account suspended", True),
}


@dataclass
class SmsProviderError(Exception):
    """The Messages API refused a message; carries what classify needs."""

    status: int
    code: int | None
    message: str
    retry_after: float | None = None

    def __post_init__(self) -> None:
        super().__init__(f"HTTP {self.status}, Twilio error {self.code}: {self.message}")

    @classmethod
    def from_twilio(cls, exc: object, retry_after: float | None) -> SmsProviderError:
        code = getattr(exc, "code", None)
        status = int(getattr(exc, "status", 0) or 0)
        return cls(status, int(code) if code is not None and code != status else None,
                   str(getattr(exc, "msg", "") or ""), retry_after)


def classify_twilio_code(code: int | None, status: int = 400,
                         retry_after: float | None = None, detail: str = "") -> Outcome:
    """Classify a Twilio error code (from the API or a status callback)."""
    text = str(code) if code is not None else str(status)
    if code in TWILIO_CODES:
        action, reason, systemic = TWILIO_CODES[code]
        reason = f"twilio {code}: {reason}"
        if isinstance(action, GoneAction):
            return Gone(action, reason, text)
        if action is Retry:
            return Retry(reason, retry_after, text, systemic)
        return Fail(reason, text, systemic)
    suffix = f": {detail}"[:200] if detail else ""
    if status == 429:
        return Retry(f"twilio: too many requests{suffix}", retry_after, text)
    if status == 503:
        return Retry(f"twilio: service unavailable{suffix}", retry_after, text, systemic=True)
    if status >= 500:
        return Unknown(f"twilio: server error HTTP {status}{suffix}", text, systemic=True)
    if status in (401, 403):
        return Retry(f"twilio: HTTP {status} (credentials){suffix}", None, text, systemic=True)
    return Fail(f"twilio {text}: rejected{suffix}", text)


def classify_sms_error(error: BaseException) -> Outcome:
    if isinstance(error, SmsProviderError):
        return classify_twilio_code(error.code, error.status, error.retry_after, error.message)
    import aiohttp  # comes with twilio's async client

    if isinstance(error, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError,
                          ConnectionRefusedError)):
        # The connection was never made: the request never reached Twilio.
        return Retry(f"network: {type(error).__name__}", systemic=True)
    if isinstance(error, (asyncio.TimeoutError, TimeoutError, aiohttp.ClientError, OSError)):
        # The request may have reached Twilio: a retry could text the customer twice.
        return Unknown(f"network: {type(error).__name__} after the request was sent",
                       systemic=True)
    return Unknown(f"unexpected {type(error).__name__}")
