"""The daemon renders what it validated: templates on disk may change or break while it
runs; only a successful SIGHUP (or a restart) changes what customers get."""

from __future__ import annotations

import signal

from .daemon_peers import Output, build_shop, start, states, wait_until
from .shop import Shop
from .smtp_server import RecordingHandler, SMTPServer


def test_templates_broken_on_disk_do_not_reach_customers_and_sighup_keeps_the_old_ones(
        shop: Shop) -> None:
    handler = RecordingHandler()
    with SMTPServer(handler) as smtp:
        # Given a daemon that validated and started with the shipped win_back templates,
        # and a run planned while the campaign was paused
        build_shop(shop, smtp.port, 6, concurrency=2)
        subject_file = shop.folder / "templates" / "win_back" / "email.subject"
        shop.cli("pause", "win_back")
        shop.cli("run-once", "win_back", "--wait-retries", "0")
        proc = start(shop, shop.db_url(), "run", "--no-http")
        output = Output(proc)
        try:
            output.wait_for("dispatcher running")
            # When someone edits one template and breaks another on disk
            subject_file.write_text("EDITED ON DISK {{ customer.first_name }}\n",
                                    encoding="utf-8")
            (shop.folder / "templates" / "win_back" / "email.txt").write_text(
                "Hi {{ customer.first_name \n", encoding="utf-8")
            # and asks the daemon to reload
            proc.send_signal(signal.SIGHUP)
            output.wait_for("config reload rejected")
            assert "win_back/email.txt:1" in output.text(), output.text()
            # and the campaign is resumed
            shop.cli("resume", "win_back")
            assert wait_until(lambda: len(handler.received) == 6, proc=proc), output.text()
            assert proc.poll() is None
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, output.text()
        finally:
            if proc.poll() is None:
                proc.kill()
    # Then every customer got the validated version: not the edit, not an error
    subjects = sorted(str(r.message["Subject"]) for r in handler.received)
    assert subjects == ["Customer, we miss you at Test Shop"] * 6, subjects
    assert all("Hi " in r.message.get_body(("plain",)).get_content()
               for r in handler.received)
    assert states(shop.db_url()) == {"sent": 6}


def test_sighup_with_an_unbounded_config_is_refused_and_the_daemon_keeps_sending(
        shop: Shop) -> None:
    handler = RecordingHandler()
    with SMTPServer(handler) as smtp:
        build_shop(shop, smtp.port, 4, concurrency=2)
        shop.cli("pause", "win_back")
        shop.cli("run-once", "win_back", "--wait-retries", "0")
        good = shop.config_path.read_text(encoding="utf-8")
        proc = start(shop, shop.db_url(), "run", "--no-http")
        output = Output(proc)
        try:
            output.wait_for("dispatcher running")
            # When the config becomes a "billion laughs" (nine levels of nine aliases)
            laughs = ['x0: &x0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
            laughs += [f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}"] * 9) + "]"
                       for i in range(1, 10)]
            shop.config_path.write_text(good + "\n".join(laughs) + "\n", encoding="utf-8")
            proc.send_signal(signal.SIGHUP)
            # Then the reload is refused with its place, quickly and without dying
            output.wait_for("config reload rejected")
            assert "config.yaml:" in output.text() and "aliases" in output.text()
            # and the running config keeps sending (the CLI needs a valid file to resume)
            shop.config_path.write_text(good, encoding="utf-8")
            shop.cli("resume", "win_back")
            assert wait_until(lambda: len(handler.received) == 4, proc=proc), output.text()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, output.text()
        finally:
            if proc.poll() is None:
                proc.kill()
    assert states(shop.db_url()) == {"sent": 4}


def test_the_daemon_refuses_to_start_with_a_template_that_does_not_render(shop: Shop) -> None:
    """What it sends is what it validated: at start too, not only on SIGHUP."""
    with SMTPServer(RecordingHandler()) as smtp:
        build_shop(shop, smtp.port, 3)
        shop.cli("pause", "win_back")
        shop.cli("run-once", "win_back", "--wait-retries", "0")
        shop.cli("resume", "win_back")
        shop.template("win_back/email.txt", "Hi {{ customer.frist_name }}\n")
        proc = start(shop, shop.db_url(), "run", "--no-http")
        try:
            assert proc.wait(timeout=120) == 2
        finally:
            if proc.poll() is None:
                proc.kill()
        text = Output(proc).text()
        assert "win_back/email.txt:1:1 campaigns.win_back: email: undefined variable" in text
        assert smtp.handler.received == []
    assert states(shop.db_url()) == {"pending": 3}
