"""Hostile config and templates folder: nothing outside the templates folder reaches a
message, no name becomes a path outside its folder, no secret leaves its field, no file
makes loading run away, no nonsense value passes. Each refusal is located, exits 2,
and leaves the database, outbox/ and the SMTP peer untouched."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from channels.base import RenderedMessage
from channels.file import FileChannel
from dispatcher.store.schema import outbox

from .shop import Shop
from .smtp_server import SMTPServer
from .test_bad_input import count, snapshot
from .test_core_email import build

DISPATCHER = str(Path(sys.executable).with_name("dispatcher"))


def refused(shop: Shop, smtp: SMTPServer, *needles: str,
            commands: tuple[str, ...] = ("validate", "run-once")) -> str:
    """Run each command; each must exit 2 with every needle in its output, no traceback,
    and change nothing. Returns the last output."""
    before = snapshot(shop.folder / "shop.db")
    output = ""
    for command in commands:
        result = shop.cli(command, expect=None)
        output = result.output
        assert result.exit_code == 2, (command, output)
        for needle in needles:
            assert re.search(needle, output), (command, needle, output)
        assert "Traceback" not in output
    assert snapshot(shop.folder / "shop.db") == before
    assert count(shop, outbox) == 0
    assert not (shop.folder / "outbox").exists()
    assert smtp.handler.received == []
    return output


def edit_config(shop: Shop, old: str, new: str) -> None:
    text = shop.config_path.read_text(encoding="utf-8")
    assert old in text, old
    shop.config_path.write_text(text.replace(old, new, 1), encoding="utf-8")


# -- the templates folder ---------------------------------------------------------------------


def test_a_symlink_out_of_the_templates_folder_refuses_the_config(
        shop: Shop, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a link to the process's own /proc entry and a template that includes its
    # environment, where the secrets are
    monkeypatch.setenv("DISPATCHER_SECRET", "very-secret-hmac-key")
    build(shop, smtp.port)
    (shop.folder / "templates" / "proc").symlink_to("/proc/self")
    shop.template("win_back/email.txt", "{% include 'proc/environ' %}\n")
    # Then validate and run-once refuse, naming the link
    output = refused(shop, smtp, r"templates/proc:1:1 templates: leads outside the templates "
                                 r"folder")
    assert "very-secret-hmac-key" not in output


def test_an_include_that_climbs_out_is_a_located_error(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    (shop.folder / "secret.txt").write_text("the secret\n", encoding="utf-8")
    shop.template("win_back/email.txt", "Hi\n{% include '../secret.txt' %}\n")
    output = refused(shop, smtp, r"win_back/email\.txt:2:1 campaigns\.win_back: email: "
                                 r"template not found: \.\./secret\.txt")
    assert "the secret" not in output


def test_a_template_folder_outside_the_templates_folder_is_a_located_error(
        shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    outside = shop.folder / "elsewhere"
    outside.mkdir()
    (outside / "email.subject").write_text("{{ shop.name }}", encoding="utf-8")
    (outside / "email.txt").write_text("outside", encoding="utf-8")
    edit_config(shop, "segment: lapsed\n", "segment: lapsed\n    template: ../elsewhere\n")
    refused(shop, smtp, r"config\.yaml:\d+:\d+ campaigns\.win_back\.template: must name a "
                        r"folder inside the templates folder")


def test_links_inside_the_templates_folder_still_work(shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    templates = shop.folder / "templates"
    (templates / "win_back_copy").symlink_to(templates / "win_back", target_is_directory=True)
    edit_config(shop, "segment: lapsed\n", "segment: lapsed\n    template: win_back_copy\n")
    shop.cli("validate")
    shop.cli("run-once")
    assert len(smtp.handler.received) == 2


# -- campaign names -----------------------------------------------------------------------------


def test_a_campaign_name_that_is_a_path_is_refused_and_writes_nothing(
        shop: Shop, smtp: SMTPServer) -> None:
    build(shop, smtp.port)
    # the file transport (no host) writes to outbox/<channel>/<campaign>/
    edit_config(shop, "  email:\n", "  email:\n    transport: file\n")
    edit_config(shop, "  win_back:\n", "  ../../../x:\n    template: win_back\n")
    refused(shop, smtp, r"config\.yaml:\d+:3 campaigns\.\.\./\.\./\.\./x: invalid campaign name "
                        r"'\.\./\.\./\.\./x'")
    assert not list(shop.folder.parent.parent.glob("x")) and not list(
        shop.folder.parent.glob("x"))


async def test_the_file_transport_never_uses_a_raw_name_in_a_path(tmp_path: Path) -> None:
    channel = FileChannel(tmp_path / "outbox", "email")
    for name in ("../../../escape", "/abs", "a/b", ".", ""):
        message = RenderedMessage(campaign=name, channel="email", customer_id="c1",
                                  to="a@example.com", text="hi", outbox_id=1)
        written = Path((await channel.send(message)).removeprefix("file:"))
        assert written.resolve().parent.parent == (tmp_path / "outbox" / "email").resolve()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outbox"]


# -- secrets ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("where", "old", "new", "variable"), [
    ("shop.name", "  name: Test Shop\n", "  name: ${SMTP_PASSWORD}\n", "SMTP_PASSWORD"),
    ("campaigns.win_back.description", "segment: lapsed\n",
     "segment: lapsed\n    description: ${DISPATCHER_SECRET}\n", "DISPATCHER_SECRET"),
    ("channels.email.from", 'from: "Test Shop <shop@shop.test>"\n',
     'from: "${MAIL_API_KEY} <shop@shop.test>"\n', "MAIL_API_KEY"),
], ids=["shop.name", "description", "from"])
def test_a_secret_cannot_be_substituted_into_content(
        shop: Shop, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch, where: str, old: str,
        new: str, variable: str) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-smtp-password")
    monkeypatch.setenv("DISPATCHER_SECRET", "hmac-key-of-the-links")
    monkeypatch.setenv("MAIL_API_KEY", "key-1234567890")
    build(shop, smtp.port)
    # the password is used where it belongs, too
    edit_config(shop, "    security: none\n", "    security: none\n    password: ${SMTP_PASSWORD}\n"
                                              "    username: shop\n")
    edit_config(shop, old, new)
    output = refused(shop, smtp, rf"config\.yaml:\d+:\d+ {re.escape(where)}: \$\{{{variable}\}} "
                                 r"is a secret")
    for value in ("hunter2-smtp-password", "hmac-key-of-the-links", "key-1234567890"):
        assert value not in output


def test_config_errors_never_echo_a_substituted_value(
        shop: Shop, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_RATE", "fast-and-furious-77")
    build(shop, smtp.port)
    edit_config(shop, "    security: none\n", "    security: none\n    rate: ${SHOP_RATE}\n")
    output = refused(shop, smtp, r"channels\.email\.rate: expected a rate like 25/s or "
                                 r"600/min; got '\$\{SHOP_RATE\}'")
    assert "fast-and-furious" not in output


def test_a_secret_in_a_number_field_is_refused_without_showing_it(
        shop: Shop, smtp: SMTPServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PASSWORD", "hunter2-smtp-password")
    build(shop, smtp.port)
    edit_config(shop, "    security: none\n", "    security: none\n    rate: ${SMTP_PASSWORD}\n")
    output = refused(shop, smtp, r"channels\.email\.rate: \$\{SMTP_PASSWORD\} is a secret")
    assert "hunter2" not in output


# -- bounded loading ----------------------------------------------------------------------------


def dispatcher_validate(shop: Shop, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """In its own process: before the bounds, these files exhausted memory or crashed."""
    env = {k: v for k, v in os.environ.items() if k != "DISPATCHER_DATABASE_URL"}
    return subprocess.run([DISPATCHER, "validate", "--config", str(shop.config_path)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def billion_laughs() -> str:
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("what", "text", "message"), [
    ("billion laughs", billion_laughs(), r"config\.yaml:\d+:\d+ lol\S*: the configuration has "
                                         r"more than 100000 values with its aliases"),
    ("an alias inside itself", "a: &a [1, *a]\n", r"an alias \(\*name\) that contains itself"),
    ("50 MiB of comments", "# " + "c" * 60 + "\n", r"config\.yaml:1:1 the configuration is "
                                                   r"over 2048 KiB"),
    ("100,000 nested lists", "a: " + "[" * 100_000 + "]" * 100_000 + "\n",
     r"nested more than 64 levels deep"),
    ("50,000 nested block lists", "a:\n  " + "- " * 50_000 + "x\n",
     r"nested more than 64 levels deep"),
])
def test_a_config_that_would_run_away_is_refused_quickly(
        shop: Shop, smtp: SMTPServer, what: str, text: str, message: str) -> None:
    build(shop, smtp.port)
    before = snapshot(shop.folder / "shop.db")
    good = shop.config_path.read_text(encoding="utf-8")
    with open(shop.config_path, "w", encoding="utf-8") as fh:
        fh.write(good)
        if what == "50 MiB of comments":
            fh.write(text * (50 * 1024 * 1024 // len(text)))
        else:
            fh.write(text)
    started = time.monotonic()
    result = dispatcher_validate(shop)
    output = result.stdout + result.stderr
    assert result.returncode == 2, (what, result.returncode, output)
    assert re.search(message, output), output
    assert "Traceback" not in output and "MemoryError" not in output
    assert time.monotonic() - started < 120
    assert snapshot(shop.folder / "shop.db") == before


def test_ordinary_yaml_still_loads(shop: Shop, smtp: SMTPServer) -> None:
    """Anchors, merge keys and YAML 1.2 flow lists of URLs (which libyaml, the fast
    parser, refuses) load as before."""
    build(shop, smtp.port)
    edit_config(shop, "channels:\n", "channels:\n  push:\n    allowed_origins: "
                                      "[http://127.0.0.1:8080, https://shop.test]\n")
    edit_config(shop, "  win_back:\n", "  win_back: &base\n")
    with open(shop.config_path, "a", encoding="utf-8") as fh:  # campaigns come last
        fh.write("  win_back_again:\n    <<: *base\n    template: win_back\n")
    assert "OK: 2 campaigns" in shop.cli("validate").output


def test_parsing_time_grows_linearly_with_the_file(tmp_path: Path) -> None:
    """A config of comments and one of values, at 1/16 and at the full size limit: sixteen
    times the text costs about sixteen times the time, not 256. The bound is the
    geometric middle, 64: linear passes with room for a loaded machine's noise (CPU
    time of this process still moves with cache contention: 19x was seen at 1/8), and
    quadratic fails."""
    from dispatcher.config.source import LocatedDocument, load_yaml

    def cost(text: str) -> float:
        path = tmp_path / "c.yaml"
        path.write_text(text, encoding="utf-8")
        best = float("inf")
        for _ in range(3):
            issues: list[object] = []
            started = time.process_time()
            load_yaml(path, "c.yaml", LocatedDocument(), issues)  # type: ignore[arg-type]
            best = min(best, time.process_time() - started)
            assert issues == []
        return best

    limit = 2 * 1024 * 1024 - 4096
    comment = "# " + "c" * 60 + "\n"
    for unit in (comment, "- {a: 1, b: two}\n"):
        small = "x:\n" + unit * (limit // 16 // len(unit))
        large = "x:\n" + unit * (limit // len(unit))
        if unit != comment:  # values are also bounded in number: stay under it
            small, large = small[: len(small) // 5], large[: len(large) // 5]
            small, large = small[: small.rindex("\n") + 1], large[: large.rindex("\n") + 1]
        assert cost(large) < 16 * cost(small) * 4 + 0.05


# -- values that make no sense ---------------------------------------------------------------


# (what, where to add, the lines added there, the path that must be reported)
EMAIL, CAMPAIGN = "    security: none\n", "segment: lapsed\n"
NONSENSE = [
    ("rate 0/s", EMAIL, "    rate: 0/s\n", "channels.email.rate"),
    ("rate 0", EMAIL, "    rate: 0\n", "channels.email.rate"),
    ("rate -5", EMAIL, "    rate: -5\n", "channels.email.rate"),
    ("rate .nan", EMAIL, "    rate: .nan\n", "channels.email.rate"),
    ("rate .inf", EMAIL, "    rate: .inf\n", "channels.email.rate"),
    ("timeout .inf", EMAIL, "    timeout: .inf\n", "channels.email.timeout"),
    ("timeout -5", EMAIL, "    timeout: -5\n", "channels.email.timeout"),
    ("ttl .nan", EMAIL, "  push:\n    ttl: .nan\n", "channels.push.ttl"),
    ("ttl 99999999999d", EMAIL, "  push:\n    ttl: 99999999999d\n", "channels.push.ttl"),
    ("cap 0 per 7d", CAMPAIGN, "    cap: 0 per 7d\n", "campaigns.win_back.cap"),
    ("cap 10^20 per 7d", CAMPAIGN, "    cap: 99999999999999999999 per 7d\n",
     "campaigns.win_back.cap"),
    ("cap 3 per 99999999w", CAMPAIGN, "    cap: 3 per 99999999w\n", "campaigns.win_back.cap"),
    ("grace -5d", CAMPAIGN, "    grace: -5d\n", "campaigns.win_back.grace"),
    ("grace 99999999999d", CAMPAIGN, "    grace: 99999999999d\n", "campaigns.win_back.grace"),
    ("attribution_window 0s", CAMPAIGN, "    attribution_window: 0s\n",
     "campaigns.win_back.attribution_window"),
    ("holdout .nan", CAMPAIGN, "    holdout: .nan\n", "campaigns.win_back.holdout"),
]


@pytest.mark.parametrize(("what", "after", "added", "path"), NONSENSE,
                         ids=[n[0] for n in NONSENSE])
def test_a_value_that_makes_no_sense_is_refused_where_written(
        shop: Shop, smtp: SMTPServer, what: str, after: str, added: str, path: str) -> None:
    build(shop, smtp.port)
    edit_config(shop, after, after + added)
    key_line = added.splitlines()[-1]
    line = shop.config_path.read_text(encoding="utf-8").splitlines().index(key_line) + 1
    output = refused(shop, smtp, rf"config\.yaml:{line}:\d+ {re.escape(path)}: ")
    assert len(re.findall(rf"{re.escape(path)}: ", output)) == 1, output  # one error, once
