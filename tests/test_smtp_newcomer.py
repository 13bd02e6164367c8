"""The shipped email settings work as a newcomer sets them, against a real SMTP peer:
a relay without AUTH (empty SMTP_USERNAME), the port from SMTP_PORT, and a test send
whose ``[TEST]`` subject arrives exactly as written."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from .shop import ROOT, Shop
from .smtp_server import SMTPServer, email_channel


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Shop:
    """The shipped config.yaml and templates in a fresh folder, a customer imported."""
    shutil.copy(ROOT / "config.yaml", tmp_path / "config.yaml")
    shutil.copytree(ROOT / "templates", tmp_path / "templates")
    for name in ("DISPATCHER_CONFIG", "SMTP_USERNAME", "SMTP_PASSWORD", "SMTP_PORT",
                 "SMTP_SECURITY", "SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPATCHER_DATABASE_URL", f"sqlite:///{tmp_path / 'shop.db'}")
    shop = Shop(tmp_path)
    shop.cli("import", "customers", str(shop.csv("c.csv", [
        {"id": "c1", "name": "Олена Коваленко", "locale": "uk", "email": "olena@example.com",
         "email_consent": "yes", "consent_at": "2025-01-01T00:00:00Z"}])))
    return shop


def _relay(monkeypatch: pytest.MonkeyPatch, smtp: SMTPServer) -> None:
    monkeypatch.setenv("SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("SMTP_PORT", str(smtp.port))  # not 587: the shipped port must follow
    monkeypatch.setenv("SMTP_SECURITY", "none")


@pytest.mark.parametrize("username", [None, ""], ids=["unset", "empty"])
def test_an_empty_username_sends_without_auth(shipped: Shop, smtp: SMTPServer,
                                              monkeypatch: pytest.MonkeyPatch,
                                              username: str | None) -> None:
    _relay(monkeypatch, smtp)
    if username is not None:
        monkeypatch.setenv("SMTP_USERNAME", username)
        monkeypatch.setenv("SMTP_PASSWORD", "")
    shipped.cli("test-send", "win_back", "--customer", "c1", "--to", "me@example.com",
                "--channel", "email")
    assert smtp.handler.recipients() == ["me@example.com"]


def test_a_username_still_logs_in(shipped: Shop, monkeypatch: pytest.MonkeyPatch) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server, session, envelope, mechanism, data) -> AuthResult:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"relay-pass")

    with SMTPServer(authenticator=authenticator, auth_require_tls=False) as smtp:
        _relay(monkeypatch, smtp)
        monkeypatch.setenv("SMTP_USERNAME", "shop")
        monkeypatch.setenv("SMTP_PASSWORD", "relay-pass")
        shipped.cli("test-send", "win_back", "--customer", "c1", "--to", "me@example.com",
                    "--channel", "email")
        assert logins == [(b"shop", b"relay-pass")]
        assert smtp.handler.recipients() == ["me@example.com"]


SUBJECTS = [
    "Знижка — для вас",
    "Олено, ми сумуємо — ось 15% знижки до неділі",
    "-20% Знижка 15% ґанок Hello — — Hello",
    "Winter sale — everything must go, and we really mean everything this time",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa за для Квітка aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa sale вас "
    "Hello sale вами за winter Знижка",
    "Hello Hello [TEST] [TEST] сумуємо ми вас " + "Ж" * 20,
]


@pytest.mark.parametrize("subject", SUBJECTS)
def test_the_test_prefix_keeps_the_subject_intact(shop: Shop, smtp: SMTPServer,
                                                  subject: str) -> None:
    shop.write_config(email_channel(smtp.port), "everyone:\n  id: {is_null: false}\n",
                      "hello:\n  segment: everyone\n  channels: [email]\n")
    shop.template("hello/email.subject", subject)
    shop.template("hello/email.txt", "Hi {{ customer.name }}")
    shop.cli("import", "customers", str(shop.csv("c.csv", [
        {"id": "c1", "name": "Олена", "email": "olena@example.com", "email_consent": "yes"}])))
    shop.cli("test-send", "hello", "--customer", "c1", "--to", "me@example.com")
    shop.cli("run-once", "hello")  # the real (non-test) send of the same subject
    by_kind = {m.message["X-Dispatcher-Test"]: m.message for m in smtp.handler.received}
    assert str(by_kind["yes"]["Subject"]) == f"[TEST] {subject}"
    assert str(by_kind[None]["Subject"]) == subject
