"""classify() of each channel, as tables of real provider answers -> what the sender does.

Retry: nothing was delivered, try again. Fail: never retried. Unknown: the request may
have reached the provider (uncertain, never sent again). Gone: the address is acted on.
"""

from __future__ import annotations

from datetime import timedelta

import aiohttp
import aiosmtplib
import httpx
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

from channels.base import Fail, Gone, GoneAction, Outcome, Retry, Unknown
from channels.email import SmtpAnswerLost, classify_smtp_error
from channels.file import FileChannel
from channels.sms_classify import SmsProviderError, classify_sms_error, classify_twilio_code
from channels.telegram import TelegramServerError, classify_telegram_error

SUPPRESS, INVALIDATE = GoneAction.SUPPRESS, GoneAction.INVALIDATE


def what(outcome: Outcome) -> tuple[str, GoneAction | None]:
    return outcome.name, outcome.action if isinstance(outcome, Gone) else None


GONE_STOP, GONE_INVALID = ("gone", SUPPRESS), ("gone", INVALIDATE)
RETRY, FAIL, UNKNOWN = ("retry", None), ("fail", None), ("unknown", None)

# (HTTP status, Twilio code, Retry-After) -> what, systemic, retry after
TWILIO = [
    (400, 21610, None, GONE_STOP, False, None),  # replied STOP
    (400, 21211, None, GONE_INVALID, False, None),  # invalid 'To'
    (400, 21614, None, GONE_INVALID, False, None),  # not a mobile number
    (400, 21612, None, FAIL, False, None),  # cannot route
    (400, 21617, None, FAIL, False, None),  # body over 1600 chars
    (429, 20429, "5", RETRY, False, 5.0),  # too many requests, Retry-After honoured
    (429, 20429, None, RETRY, False, None),  # our backoff decides
    (429, 14107, None, RETRY, False, None),  # SMS rate limit
    (401, 20003, None, RETRY, True, None),  # bad credentials: nothing sent; guard pauses
    (404, 20404, None, RETRY, True, None),  # wrong account SID
    (400, 21606, None, RETRY, True, None),  # 'From' cannot send SMS
    (400, 30007, None, FAIL, True, None),  # carrier filtering: counts for the guard
    (503, None, "2", RETRY, True, 2.0),  # Twilio did not take it
    (500, None, None, UNKNOWN, True, None),  # Twilio's 5xx: the message may exist
    (502, 20500, None, UNKNOWN, True, None),  # unknown code on a 5xx: may exist too
    (400, 99999, None, FAIL, False, None),  # an unknown 4xx is never retried
]


@pytest.mark.parametrize(("status", "code", "retry_after_header", "expected", "systemic",
                          "retry_after"), TWILIO)
def test_twilio_api_errors(status: int, code: int | None, retry_after_header: str | None,
                           expected: tuple[str, GoneAction | None], systemic: bool,
                           retry_after: float | None) -> None:
    # The exception exactly as the twilio library raises it, then as our client wraps it.
    raised = TwilioRestException(status, "https://api.twilio.com/2010-04-01/Accounts/AC1/"
                                 "Messages.json", "Unable to create record: ...",
                                 code if code is not None else status, "POST")
    header = float(retry_after_header) if retry_after_header else None
    outcome = classify_sms_error(SmsProviderError.from_twilio(raised, header))
    assert what(outcome) == expected
    assert outcome.systemic is systemic
    assert (outcome.after if isinstance(outcome, Retry) else None) == retry_after
    assert outcome.code == str(code if code is not None else status)


# Error codes that come back in status callbacks (ErrorCode with MessageStatus undelivered).
CALLBACK = [
    (30003, RETRY), (30004, GONE_STOP), (30005, GONE_INVALID),
    (30006, GONE_INVALID), (30007, FAIL), (30008, RETRY),
]


@pytest.mark.parametrize(("code", "expected"), CALLBACK)
def test_twilio_delivery_error_codes(code: int, expected: tuple[str, GoneAction | None]) -> None:
    outcome = classify_twilio_code(code)
    assert (what(outcome), outcome.code) == (expected, str(code))


def test_twilio_network_errors_retry_only_when_nothing_was_sent() -> None:
    key = aiohttp.client_reqrep.ConnectionKey("api.twilio.com", 443, True, True, None, None,
                                              None)
    refused = aiohttp.ClientConnectorError(key, ConnectionRefusedError(111, "refused"))
    assert isinstance(classify_sms_error(refused), Retry)
    assert isinstance(classify_sms_error(aiohttp.ConnectionTimeoutError()), Retry)
    # a timeout or a dropped connection after the request left: Twilio may have it
    for error in (TimeoutError(), aiohttp.ServerDisconnectedError(),
                  aiohttp.SocketTimeoutError(), aiohttp.ClientOSError(104, "reset")):
        outcome = classify_sms_error(error)
        assert isinstance(outcome, Unknown) and outcome.systemic, error


TELEGRAM = [
    (Forbidden("Forbidden: bot was blocked by the user"), GONE_STOP, "403", None),
    (Forbidden("Forbidden: user is deactivated"), GONE_STOP, "403", None),
    (Forbidden("Forbidden: bot was kicked from the group chat"), GONE_STOP, "403", None),
    (BadRequest("Bad Request: chat not found"), GONE_INVALID, "400", None),
    (BadRequest("Bad Request: can't parse entities: unsupported start tag \"br\""),
     FAIL, "400", None),
    (BadRequest("Bad Request: message is too long"), FAIL, "400", None),
    (RetryAfter(2), RETRY, "429", 2.0),
    (RetryAfter(timedelta(seconds=37)), RETRY, "429", 37.0),
    (ChatMigrated(-1001234567890), FAIL, "400", None),
    (InvalidToken("Unauthorized"), RETRY, "401", None),  # our token: the guard pauses
    (TimedOut(), UNKNOWN, None, None),  # the read timed out: the chat may have it
    (TelegramServerError(502, "Bad Gateway"), UNKNOWN, "502", None),
    (TelegramServerError(503, "Service Unavailable"), RETRY, "503", None),
    (NetworkError("httpx.RemoteProtocolError: Server disconnected"), UNKNOWN, None, None),
]


def _caused(error: Exception, cause: Exception) -> Exception:
    error.__cause__ = cause
    return error


TELEGRAM += [
    # never left: the connection or a pooled one could not be had
    (_caused(TimedOut(), httpx.ConnectTimeout("connect")), RETRY, None, None),
    (_caused(TimedOut(), httpx.PoolTimeout("pool")), RETRY, None, None),
    (_caused(NetworkError("httpx.ConnectError: refused"), httpx.ConnectError("refused")),
     RETRY, None, None),
    # left, and then: a read timeout or a dropped connection
    (_caused(TimedOut(), httpx.ReadTimeout("read")), UNKNOWN, None, None),
    (_caused(NetworkError("httpx.ReadError: "), httpx.ReadError("")), UNKNOWN, None, None),
]


@pytest.mark.parametrize(("error", "expected", "code", "retry_after"), TELEGRAM,
                         ids=[f"{i}-{type(e).__name__}-{str(e)[:24]}"
                              for i, (e, *_) in enumerate(TELEGRAM)])
def test_telegram_errors(error: Exception, expected: tuple[str, GoneAction | None],
                         code: str | None, retry_after: float | None) -> None:
    outcome = classify_telegram_error(error)
    assert what(outcome) == expected
    assert outcome.code == code
    assert (outcome.after if isinstance(outcome, Retry) else None) == retry_after


def _refused(code: int, text: str) -> aiosmtplib.SMTPRecipientsRefused:
    return aiosmtplib.SMTPRecipientsRefused([aiosmtplib.SMTPRecipientRefused(code, text, "x@y")])


SMTP = [
    # before DATA: nothing was handed over
    (_refused(550, "5.1.1 The email account that you tried to reach does not exist"),
     ("gone", SUPPRESS | INVALIDATE)),
    (_refused(550, "Requested action not taken: mailbox unavailable"),
     ("gone", SUPPRESS | INVALIDATE)),
    (_refused(452, "4.2.2 The email account that you tried to reach is over quota"), RETRY),
    (_refused(554, "5.7.1 Relay access denied"), FAIL),
    (aiosmtplib.SMTPSenderRefused(553, "5.7.1 Sender address rejected", "shop@x"), FAIL),
    (aiosmtplib.SMTPAuthenticationError(535, "5.7.8 Username and Password not accepted"),
     RETRY),
    (aiosmtplib.SMTPConnectError("Error connecting to 127.0.0.1 on port 25: refused"), RETRY),
    (aiosmtplib.SMTPConnectTimeoutError("Timed out connecting"), RETRY),
    (aiosmtplib.SMTPServerDisconnected("Connection lost"), RETRY),  # e.g. at MAIL FROM
    (aiosmtplib.SMTPReadTimeoutError("Timed out waiting for server response"), RETRY),
    (ConnectionRefusedError(111, "Connection refused"), RETRY),
    # the answer to the DATA that carried the message
    (aiosmtplib.SMTPDataError(451, "4.3.0 Temporary failure"), RETRY),
    (aiosmtplib.SMTPDataError(554, "5.7.1 Message rejected as spam"), FAIL),
    # the message went out and the answer never came
    (SmtpAnswerLost(aiosmtplib.SMTPServerDisconnected("Connection lost")), UNKNOWN),
    (SmtpAnswerLost(aiosmtplib.SMTPReadTimeoutError("Timed out")), UNKNOWN),
]


@pytest.mark.parametrize(("error", "expected"), SMTP,
                         ids=[f"{i}-{type(e).__name__}" for i, (e, _) in enumerate(SMTP)])
def test_smtp_errors(error: Exception, expected: tuple[str, GoneAction | None]) -> None:
    assert what(classify_smtp_error(error)) == expected


def test_smtp_credentials_and_connection_failures_are_systemic() -> None:
    auth = aiosmtplib.SMTPAuthenticationError(535, "5.7.8 bad credentials")
    lost = aiosmtplib.SMTPServerDisconnected("Connection lost")
    assert classify_smtp_error(auth).systemic and classify_smtp_error(lost).systemic
    assert not classify_smtp_error(_refused(550, "5.1.1 no such user")).systemic


def test_file_transport_failures() -> None:
    channel = FileChannel("/nonexistent")
    assert isinstance(channel.classify(OSError(28, "No space left on device")), Retry)
    assert isinstance(channel.classify(PermissionError(13, "Permission denied")), Fail)
