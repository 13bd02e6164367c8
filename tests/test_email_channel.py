"""The email channel against a real aiosmtpd: STARTTLS + AUTH, bounces, retries, files."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import create_engine, select

from dispatcher.store.schema import addresses, outbox, suppressions

from .shop import Shop
from .smtp_server import RecordingHandler, SMTPServer
from .test_core_email import build

PASSWORD = "s3cret-Pa55-do-not-log"


def self_signed(folder: Path) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


@pytest.fixture
def tls_smtp(tmp_path: Path) -> Iterator[SMTPServer]:
    logins: list[str] = []

    def authenticator(server: object, session: object, envelope: object, mechanism: str,
                      auth_data: object) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
        if ok:
            logins.append(auth_data.login.decode())  # type: ignore[union-attr]
        return AuthResult(success=ok, handled=False)  # handled=False: reply 535

    server = SMTPServer(RecordingHandler(), tls_context=self_signed(tmp_path),
                        require_starttls=True, authenticator=authenticator,
                        auth_require_tls=True)
    server.logins = logins  # type: ignore[attr-defined]
    with server:
        yield server


def starttls_channel(port: int) -> str:
    return f"""
email:
  host: 127.0.0.1
  port: {port}
  security: starttls
  validate_certs: false
  username: shop
  password: ${{SMTP_PASSWORD}}
  from: "Test Shop <shop@shop.test>"
"""


def test_starttls_and_auth_with_password_from_env(shop: Shop, tls_smtp: SMTPServer,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, tls_smtp.port)
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    shop.write_config(starttls_channel(tls_smtp.port),
                      *_segments_and_campaigns(shop))
    result = shop.cli("-v", "run-once", "win_back")
    assert sorted(tls_smtp.handler.recipients()) == ["jane@example.com", "olena@example.com"]
    assert set(tls_smtp.logins) == {"shop"}  # type: ignore[attr-defined]
    assert PASSWORD not in result.output


def test_wrong_password_sends_nothing_and_never_prints_it(
        shop: Shop, tls_smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    build(shop, tls_smtp.port)
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-" + PASSWORD)
    shop.write_config(starttls_channel(tls_smtp.port), *_segments_and_campaigns(shop))
    result = shop.cli("-v", "run-once", "win_back", "--wait-retries", "0", expect=None)
    assert tls_smtp.handler.received == []
    assert PASSWORD not in result.output
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        statuses = {r.status for r in conn.execute(select(outbox.c.status, outbox.c.reason))
                    if r.reason not in ("no_consent", "opted_out", "no_address")}
    assert "sent" not in statuses


def _segments_and_campaigns(shop: Shop) -> tuple[str, str]:
    from .test_core_email import CAMPAIGNS, SEGMENTS

    return SEGMENTS, CAMPAIGNS


def test_hard_bounce_suppresses_and_temporary_failure_is_retried_once(
        shop: Shop) -> None:
    attempts: dict[str, int] = {}

    def reply(address: str) -> str | None:
        attempts[address] = attempts.get(address, 0) + 1
        if address == "olena@example.com":
            return "550 5.1.1 <olena@example.com>: user unknown"
        if address == "jane@example.com" and attempts[address] == 1:
            return "451 4.3.0 greylisted, try again"
        return None

    with SMTPServer(RecordingHandler(rcpt_reply=reply)) as smtp:
        build(shop, smtp.port)
        text = shop.config_path.read_text(encoding="utf-8")
        shop.config_path.write_text(text.replace("  concurrency: 4",
                                                 "  concurrency: 4\n    retry_base: 1s\n"
                                                 "    retry_cap: 1s"), encoding="utf-8")
        shop.cli("run-once", "win_back", "--wait-retries", "10")
        assert smtp.handler.recipients() == ["jane@example.com"]  # once, after the retry
        assert attempts["jane@example.com"] == 2

    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        rows = {r.customer_id: r for r in conn.execute(select(outbox))}
        # (the imported "consent: no" of c4 is an opted_out suppression too)
        gone = conn.execute(select(suppressions)
                            .where(suppressions.c.reason != "opted_out")).all()
        olena_address = conn.execute(select(addresses).where(
            addresses.c.address == "olena@example.com")).one()
    assert rows["c2"].status == "sent" and rows["c2"].attempts == 2
    assert rows["c1"].status == "failed" and "5.1.1" in (rows["c1"].last_error or "")
    assert [(s.channel, s.address_hash, s.provider_code) for s in gone] == [
        ("email", olena_address.address_hash, "550")]
    assert olena_address.invalid_at is not None


def test_file_transport_writes_readable_eml_when_no_host(shop: Shop) -> None:
    build(shop, 1)  # the port is irrelevant: no host means the file transport
    text = shop.config_path.read_text(encoding="utf-8")
    shop.config_path.write_text(text.replace("    host: 127.0.0.1\n", ""), encoding="utf-8")
    shop.cli("run-once", "win_back")
    files = sorted((shop.folder / "outbox").rglob("*.eml"))
    assert len(files) == 2
    parsed = [email.message_from_bytes(f.read_bytes(), policy=email.policy.default)
              for f in files]
    assert sorted(str(m["To"]).split("<")[-1].rstrip(">") for m in parsed) == [
        "jane@example.com", "olena@example.com"]
    assert all(m["List-Unsubscribe"] for m in parsed)
