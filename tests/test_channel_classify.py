"""classify() of each channel, as tables of real provider answers."""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import aiosmtplib
import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from twilio.base.exceptions import TwilioRestException

from channels.base import FailureKind
from channels.email import classify_smtp_error
from channels.sms_classify import SmsProviderError, classify_sms_error, classify_twilio_code
from channels.telegram import classify_telegram_error

GONE, PERMANENT, RETRY = FailureKind.RECIPIENT_GONE, FailureKind.PERMANENT, FailureKind.RETRYABLE

# (HTTP status, Twilio code, Retry-After) -> kind, address invalid, systemic, retry_after
TWILIO = [
    (400, 21610, None, GONE, False, False, None),  # replied STOP
    (400, 21211, None, PERMANENT, True, False, None),  # invalid 'To'
    (400, 21614, None, PERMANENT, True, False, None),  # not a mobile number
    (400, 21612, None, PERMANENT, False, False, None),  # cannot route
    (400, 21617, None, PERMANENT, False, False, None),  # body over 1600 chars
    (429, 20429, "5", RETRY, False, False, 5.0),  # too many requests, Retry-After honoured
    (429, 20429, None, RETRY, False, False, None),  # our backoff decides
    (429, 14107, None, RETRY, False, False, None),  # SMS rate limit
    (401, 20003, None, PERMANENT, False, True, None),  # bad credentials
    (404, 20404, None, PERMANENT, False, True, None),  # wrong account SID
    (400, 21606, None, PERMANENT, False, True, None),  # 'From' cannot send SMS
    (500, None, None, RETRY, False, True, None),  # Twilio's 5xx (no code in the body)
    (503, 20500, "2", RETRY, False, True, 2.0),  # unknown code on a 5xx: still retryable
    (400, 99999, None, PERMANENT, False, False, None),  # an unknown 4xx is never retried
]


@pytest.mark.parametrize(("status", "code", "retry_after_header", "kind", "invalid",
                          "systemic", "retry_after"), TWILIO)
def test_twilio_api_errors(status: int, code: int | None, retry_after_header: str | None,
                           kind: FailureKind, invalid: bool, systemic: bool,
                           retry_after: float | None) -> None:
    # The exception exactly as the twilio library raises it, then as our client wraps it.
    raised = TwilioRestException(status, "https://api.twilio.com/2010-04-01/Accounts/AC1/"
                                 "Messages.json", "Unable to create record: ...",
                                 code if code is not None else status, "POST")
    header = float(retry_after_header) if retry_after_header else None
    failure = classify_sms_error(SmsProviderError.from_twilio(raised, header))
    assert (failure.kind, failure.address_invalid, failure.systemic, failure.retry_after) == \
        (kind, invalid, systemic, retry_after)
    assert failure.code == str(code if code is not None else status)


# Error codes that come back in status callbacks (ErrorCode with MessageStatus undelivered).
CALLBACK = [
    (30003, RETRY, False), (30004, GONE, False), (30005, PERMANENT, True),
    (30006, PERMANENT, True), (30007, PERMANENT, False), (30008, RETRY, False),
]


@pytest.mark.parametrize(("code", "kind", "invalid"), CALLBACK)
def test_twilio_delivery_error_codes(code: int, kind: FailureKind, invalid: bool) -> None:
    failure = classify_twilio_code(code)
    assert (failure.kind, failure.address_invalid, failure.code) == (kind, invalid, str(code))


def test_twilio_network_errors_retry_only_when_nothing_was_sent() -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("api.twilio.com", 443, True, True, None, None, None),
        ConnectionRefusedError(111, "Connection refused"))
    assert classify_sms_error(refused).kind is RETRY
    # a timeout after the request left: Twilio may have it; don't text twice
    assert classify_sms_error(TimeoutError()).kind is PERMANENT
    assert classify_sms_error(aiohttp.ServerDisconnectedError()).kind is PERMANENT


TELEGRAM = [
    (Forbidden("Forbidden: bot was blocked by the user"), GONE, "403", None, False),
    (Forbidden("Forbidden: user is deactivated"), GONE, "403", None, False),
    (Forbidden("Forbidden: bot was kicked from the group chat"), GONE, "403", None, False),
    (BadRequest("Bad Request: chat not found"), PERMANENT, "400", None, True),
    (BadRequest("Bad Request: can't parse entities: unsupported start tag \"br\""),
     PERMANENT, "400", None, False),
    (BadRequest("Bad Request: message is too long"), PERMANENT, "400", None, False),
    (RetryAfter(2), RETRY, "429", 2.0, False),
    (RetryAfter(timedelta(seconds=37)), RETRY, "429", 37.0, False),
    (ChatMigrated(-1001234567890), PERMANENT, "400", None, False),
    (InvalidToken("Unauthorized"), PERMANENT, "401", None, False),
    (TimedOut(), PERMANENT, None, None, False),
    (NetworkError("Bad Gateway"), RETRY, None, None, False),
]


@pytest.mark.parametrize(("error", "kind", "code", "retry_after", "invalid"), TELEGRAM,
                         ids=[type(e).__name__ + "-" + str(e)[:30] for e, *_ in TELEGRAM])
def test_telegram_errors(error: Exception, kind: FailureKind, code: str | None,
                         retry_after: float | None, invalid: bool) -> None:
    failure = classify_telegram_error(error)
    assert (failure.kind, failure.code, failure.retry_after, failure.address_invalid) == \
        (kind, code, retry_after, invalid)


SMTP = [
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(
        550, "5.1.1 The email account that you tried to reach does not exist", "x@y")]),
     GONE),
    (aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(
        452, "4.2.2 The email account that you tried to reach is over quota", "x@y")]),
     RETRY),
    (aiosmtplib.SMTPResponseException(554, "5.7.1 Message rejected as spam"), PERMANENT),
    (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Username and Password not accepted"),
     PERMANENT),
    (aiosmtplib.SMTPServerDisconnected("Connection lost"), RETRY),
]


@pytest.mark.parametrize(("error", "kind"), SMTP)
def test_smtp_errors(error: Exception, kind: FailureKind) -> None:
    assert classify_smtp_error(error).kind is kind
