"""What the CLI prints is the text as written, readable in a terminal, a pipe and a log."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from sqlalchemy import create_engine, text

from dispatcher.links import LinkClaims, link_urls
from dispatcher.store.db import address_hash

from .shop import Shop
from .smtp_server import SMTPServer, email_channel
from .test_core_email import CAMPAIGNS, SEGMENTS, build

LONG_NAME = "winter_collection_clearance_for_our_most_loyal_customers_2026"


def test_an_error_at_line_100_prints_its_location_not_an_emoji(shop: Shop) -> None:
    shop.write_config("email: {}", SEGMENTS, CAMPAIGNS)
    shop.copy_templates("win_back")
    lines = shop.config_path.read_text(encoding="utf-8").splitlines()
    # Pad so that the bad segment reference lands on line 100.
    at = lines.index("    segment: lapsed")
    lines[at:at] = [f"    # note {n}" for n in range(100 - 1 - at)]
    lines[99] = "    segment: lapsd"
    shop.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = shop.cli("validate", expect=2)
    assert "config.yaml:100:14 campaigns.win_back.segment: unknown segment 'lapsd'" \
        in result.output, result.output
    assert "\N{HUNDRED POINTS SYMBOL}" not in result.output


def test_brackets_and_emoji_codes_in_names_are_printed_as_text(shop: Shop,
                                                              smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    weird = "[bold]c9[/bold]:smile:"
    shop.cli("import", "customers", str(shop.csv("more.csv", [
        {"id": weird, "name": "[red]Ann[/red]", "email": "ann@example.com",
         "email_consent": "yes", "consent_at": "2025-01-01T00:00:00Z"}])))
    history = shop.cli("consent", weird).output
    assert f"consent history of {weird}" in history, history
    unknown = shop.cli("forget", "[red]ghost[/red]", "--yes", expect=1).output
    assert "no customer '[red]ghost[/red]'" in unknown, unknown
    campaign = shop.cli("plan", "[x]:100:", expect=2).output
    assert "unknown campaign '[x]:100:'" in campaign, campaign
    preview = shop.cli("preview", "win_back", "--customer", weird).output
    assert f"for customer {weird}" in preview, preview


def test_preview_escapes_control_characters_from_the_database(shop: Shop,
                                                              smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    # Data that reached the database before imports refused it (or by another path).
    engine = create_engine(shop.db_url())
    with engine.begin() as conn:
        conn.execute(text("UPDATE customers SET name = :n WHERE id = 'c2'"),
                     {"n": "Jane\x1b]0;pwned\x07\x1b[2J Doe"})
    engine.dispose()
    out = shop.cli("preview", "win_back", "--customer", "c2").output
    assert "\x1b" not in out and "\x07" not in out
    assert "Jane\\x1b]0;pwned\\x07\\x1b[2J" in out, out


def test_urls_in_preview_are_not_hard_wrapped(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    out = shop.cli("preview", "win_back", "--customer", "c2").output
    unsubscribe, _ = link_urls("http://127.0.0.1:8080", LinkClaims(
        "c2", "email", address_hash("email", "jane@example.com"), "win_back"))
    assert len(unsubscribe) > 80
    assert unsubscribe in out, out


def test_tables_in_a_pipe_keep_long_campaign_names(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    shop.write_config(email_channel(smtp.port), SEGMENTS,
                      CAMPAIGNS.replace("win_back:", f"{LONG_NAME}:") + "  template: win_back\n")
    run_once = shop.cli("run-once").output
    assert any(LONG_NAME in line and "yes" in line for line in run_once.splitlines()), run_once
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    # A real pipe, as in `dispatcher status | tee status.log`.
    result = subprocess.run([sys.executable, "-c", "from dispatcher.cli.main import main; main()",
                             "status", "--config", str(shop.config_path)],
                            capture_output=True, text=True, cwd=shop.folder, env=env,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if LONG_NAME[:20] in line)
    assert LONG_NAME in row and re.search(r"\b2\b", row), result.stdout
