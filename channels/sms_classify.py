"""What a Twilio error means for the message and the recipient (a pure table).

    SmsProviderError(status, code, message, retry_after)   the API refused a message
    ├── 21610, 30004                 RECIPIENT_GONE   replied STOP / blocked: suppress
    ├── 21211, 21614, 30005, 30006   PERMANENT        the number is invalid: mark it
    ├── 20429, 14107, 30001, 30003, 30008, HTTP 429   RETRYABLE  (Retry-After honoured)
    ├── HTTP 5xx                     RETRYABLE, systemic
    ├── 20003, 21606, 30002, ...     PERMANENT, systemic (our account or sender)
    └── anything else                PERMANENT
    connection refused               RETRYABLE, systemic (never reached Twilio)
    timeout / dropped connection     PERMANENT, systemic (may have been sent: no duplicate)

Codes 30003-30008 usually arrive later, in delivery status callbacks; the same
table classifies them there (``classify_twilio_code``).
Reference: https://www.twilio.com/docs/api/errors
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from .base import Failure, FailureKind

GONE, PERMANENT, RETRYABLE = (FailureKind.RECIPIENT_GONE, FailureKind.PERMANENT,
                              FailureKind.RETRYABLE)

# code: (kind, reason, address_invalid, systemic)
TWILIO_CODES: dict[int, tuple[FailureKind, str, bool, bool]] = {
    21610: (GONE, "recipient replied STOP (unsubscribed)", False, False),
    30004: (GONE, "message blocked by the recipient or carrier", False, False),
    21211: (PERMANENT, "invalid 'To' phone number", True, False),
    21614: (PERMANENT, "'To' is not a valid mobile number", True, False),
    30005: (PERMANENT, "unknown destination handset", True, False),
    30006: (PERMANENT, "landline or unreachable carrier", True, False),
    21612: (PERMANENT, "'To' number cannot be reached by SMS from this sender", False, False),
    21617: (PERMANENT, "message body over 1600 characters", False, False),
    21608: (PERMANENT, "trial account: number not verified", False, False),
    30007: (PERMANENT, "filtered by the carrier (content or sender flagged)", False, True),
    20429: (RETRYABLE, "too many requests", False, False),
    14107: (RETRYABLE, "SMS rate limit exceeded", False, False),
    30001: (RETRYABLE, "queue overflow", False, False),
    30003: (RETRYABLE, "destination handset unreachable", False, False),
    30008: (RETRYABLE, "unknown delivery error", False, False),
    20003: (PERMANENT, "Twilio authentication failed (check TWILIO_ACCOUNT_SID/AUTH_TOKEN)",
            False, True),
    20404: (PERMANENT, "Twilio resource not found (check the account SID)", False, True),
    21408: (PERMANENT, "sending to this region is not enabled on the account", False, True),
    21606: (PERMANENT, "'From' number cannot send SMS", False, True),
    21659: (PERMANENT, "'From' is not a Twilio number of this account", False, True),
    30002: (PERMANENT, "Twilio account suspended", False, True),
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
                         retry_after: float | None = None) -> Failure:
    """Classify a Twilio error code (from the API or a status callback)."""
    text = str(code) if code is not None else str(status)
    if code in TWILIO_CODES:
        kind, reason, invalid, systemic = TWILIO_CODES[code]
        return Failure(kind, f"twilio {code}: {reason}", text,
                       retry_after if kind is RETRYABLE else None,
                       systemic=systemic, address_invalid=invalid)
    if status == 429:
        return Failure(RETRYABLE, "twilio: too many requests", text, retry_after)
    if status >= 500:
        return Failure(RETRYABLE, f"twilio: server error HTTP {status}", text, retry_after,
                       systemic=True)
    if status in (401, 403):
        return Failure(PERMANENT, f"twilio: HTTP {status} (credentials)", text, systemic=True)
    return Failure(PERMANENT, f"twilio {text}: rejected", text)


def classify_sms_error(error: BaseException) -> Failure:
    if isinstance(error, SmsProviderError):
        failure = classify_twilio_code(error.code, error.status, error.retry_after)
        if error.code not in TWILIO_CODES and error.message:
            return Failure(failure.kind, f"{failure.reason}: {error.message}"[:300],
                           failure.code, failure.retry_after, failure.systemic)
        return failure
    import aiohttp  # comes with twilio's async client

    if isinstance(error, (aiohttp.ClientConnectorError, ConnectionRefusedError)):
        # The request never reached Twilio: sending again cannot duplicate it.
        return Failure(RETRYABLE, f"network: {type(error).__name__}", systemic=True)
    if isinstance(error, (asyncio.TimeoutError, TimeoutError, aiohttp.ClientError, OSError)):
        # The request may have reached Twilio: a retry could text the customer twice.
        return Failure(PERMANENT, f"network: {type(error).__name__} (outcome unknown; "
                       f"not retried)", systemic=True)
    return Failure(PERMANENT, f"unexpected {type(error).__name__}")
