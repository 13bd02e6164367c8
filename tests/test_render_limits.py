"""Render limits: a template that never ends, builds a huge value or recurses is a
located error (exit 2) from `validate` and `run-once`, never a hang, a traceback or a
137 MB email; at send time, only that message fails."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from dispatcher.config.templates import TemplateSnapshot
from dispatcher.render.templating import RenderLimitExceeded, RenderLimits, TemplateRenderer
from dispatcher.store.schema import outbox

from .shop import Shop
from .smtp_server import SMTPServer
from .test_bad_input import count, snapshot
from .test_core_email import build

DISPATCHER = str(Path(sys.executable).with_name("dispatcher"))


def dispatcher(shop: Shop, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The CLI as its own process: a template that hangs cannot hang the test suite."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPATCHER_CONFIG", "DISPATCHER_DATABASE_URL")}
    return subprocess.run([DISPATCHER, *args, "--config", str(shop.config_path)],
                          capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=shop.folder)


# Each: (what, template text for win_back/email.txt, line of the culprit, message part)
RUNAWAY = [
    ("a loop that does not end",
     "Hi {{ customer.first_name }}\n"
     "{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}\n",
     2, "time budget"),
    ("range(10**9)", "Hi\n\n{% for i in range(10**9) %}.{% endfor %}\n", 3, "range()"),
    ("9**999999", "Hi\n{{ 9**999999 }}\n", 2, "digits"),
    ("'a'*10**8", "Hi\n{{ 'a' * 10**8 }}\n", 2, "would build a value"),
    ("a macro that calls itself",
     "{% macro again(n) %}{{ again(n + 1) }}{% endmacro %}\nHi\n{{ again(0) }}\n", 1,
     "recursion"),
    ("a template that includes itself", "Hi\n{% include 'win_back/email.txt' %}\n", 2,
     "recursion"),
    ("a 137 MB email",
     "{% for i in range(100000) %}{{ 'x' * 1370 }}{% endfor %}\n", 1, "over the limit"),
    ("a doubling string", "{% set ns = namespace(s='ab') %}\n"
     "{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}\n", 2,
     "would build a value"),
    ("a format width", "Hi\n{{ '%999999999d' % 1 }}\n", 2, "width"),
]


@pytest.mark.parametrize(("what", "text", "line", "message"), RUNAWAY,
                         ids=[r[0] for r in RUNAWAY])
def test_runaway_template_is_a_located_error_and_nothing_is_sent(
        shop: Shop, smtp: SMTPServer, what: str, text: str, line: int, message: str) -> None:
    # Given a working shop whose email text a marketer replaced with a runaway template
    build(shop, smtp.port)
    before = snapshot(shop.folder / "shop.db")
    (shop.folder / "templates" / "win_back" / "email.txt").write_text(text, encoding="utf-8")
    (shop.folder / "templates" / "win_back" / "uk" / "email.txt").unlink()

    # When it is validated, or run (a loop in its own process: before the time budget,
    # it would have hung the test suite)
    for command in ("validate", "run-once"):
        if what == "a loop that does not end":
            process = dispatcher(shop, command)
            code, output = process.returncode, process.stdout + process.stderr
        else:
            result = shop.cli(command, expect=None)
            code, output = result.exit_code, result.output
        # Then: exit 2, the file and line of the template, the campaign, no traceback
        assert code == 2, (what, command, output)
        assert f"win_back/email.txt:{line}:1 campaigns.win_back: email:" in output, output
        assert message in output, output
        assert "Traceback" not in output, output
    # and nothing changed: no rows, no mail
    assert snapshot(shop.folder / "shop.db") == before
    assert count(shop, outbox) == 0
    assert smtp.handler.received == []


def test_a_message_over_a_limit_at_send_time_fails_alone(
        shop: Shop, smtp: SMTPServer) -> None:
    # Given a template that is fine for the sample customers of `validate`, but loops
    # for as long as one real customer's data says, and builds a huge value for another
    build(shop, smtp.port)
    shop.template("win_back/email.txt", (
        "Hi {{ customer.first_name }}\n"
        "{% set n = customer.attributes.get('loops', '1') | int %}"
        "{% for a in range(n) %}{% for b in range(n) %}{% endfor %}{% endfor %}"
        "{{ 'x' * (customer.attributes.get('copies', '1') | int) }}\n"))
    (shop.folder / "templates" / "win_back" / "uk" / "email.txt").unlink()
    shop.cli("import", "customers", str(shop.csv("more.csv", [
        {"id": "c1", "name": "Олена Коваленко", "locale": "uk", "email": "olena@example.com",
         "email_consent": "yes", "attr.loops": "100000"},  # 10^10 loop turns
        {"id": "c2", "name": "Jane Doe", "locale": "en", "email": "jane@example.com",
         "email_consent": "yes", "attr.copies": "200000000"},  # a 200 MB string
    ])))
    shop.cli("validate")

    # When the run sends
    result = dispatcher(shop, "run-once", "--wait-retries", "0")

    # Then neither message went out, each is recorded with the template's place and the
    # limit, and the run finished (no hang, no traceback)
    assert "Traceback" not in result.stdout + result.stderr
    engine = create_engine(shop.db_url())
    with engine.connect() as conn:
        rows = {r.customer_id: r for r in conn.execute(select(outbox))}
    engine.dispose()
    assert rows["c1"].status != "sent" and rows["c2"].status != "sent"
    assert "win_back/email.txt:2" in rows["c1"].reason and "time budget" in rows["c1"].reason
    assert "win_back/email.txt:2" in rows["c2"].reason and "value" in rows["c2"].reason
    assert smtp.handler.received == []


def test_the_time_budget_never_interrupts_anything_but_the_runaway_render(
        tmp_path: Path) -> None:
    """The watchdog interrupts a thread from outside; it must never hit a normal render
    or the code around it, however renders interleave on several threads."""
    folder = tmp_path / "templates" / "t"
    folder.mkdir(parents=True)
    (folder / "loop.txt").write_text("{% for a in range(99999) %}{% for b in range(99999) %}"
                                     "{% endfor %}{% endfor %}")
    (folder / "ok.txt").write_text("{% for i in range(200) %}{{ name }}{% endfor %}")
    renderer = TemplateRenderer(TemplateSnapshot.read(tmp_path / "templates"),
                                RenderLimits(time_budget=0.05))
    failures: list[str] = []

    def worker() -> None:
        try:
            for _ in range(5):
                with pytest.raises(RenderLimitExceeded) as caught, renderer.message():
                    renderer.render("t", "loop.txt", None, {})
                assert caught.value.kind == "time" and caught.value.line == 1
                for _ in range(200):
                    with renderer.message():
                        assert renderer.render("t", "ok.txt", None, {"name": "ab"}) == "ab" * 200
                time.sleep(0.2)  # a late interruption would land here
        except BaseException as exc:  # anything is a failure of the test
            failures.append(repr(exc))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert failures == []


def test_normal_templates_render_as_before(tmp_path: Path) -> None:
    """The limits change nothing for a template within them: autoescape, StrictUndefined
    errors, includes, loops, the JSON escaping of push.json."""
    root = tmp_path / "templates"
    (root / "c").mkdir(parents=True)
    (root / "_layout").mkdir()
    (root / "_layout" / "footer.txt").write_text("-- {{ shop }}")
    (root / "c" / "email.html").write_text("<p>{{ name }}</p>")
    (root / "c" / "email.txt").write_text(
        "{% for i in items %}{{ i * 2 }},{% endfor %} {{ 'ab' * 3 }} {{ 2 ** 10 }} "
        "{{ '%05d' % 42 }} {{ ['a', 'b'] | join('-') }} {{ name ~ '!' }}\n"
        "{% include '_layout/footer.txt' %}")
    (root / "c" / "push.json").write_text('{"title": "{{ name }}"}')
    renderer = TemplateRenderer(TemplateSnapshot.read(root))
    context = {"name": 'Jane "JJ" <b>', "items": [1, 2, 3], "shop": "Shop"}
    assert renderer.render("c", "email.html", None, context) == \
        "<p>Jane &#34;JJ&#34; &lt;b&gt;</p>"
    assert renderer.render("c", "email.txt", None, context) == \
        '2,4,6, ababab 1024 00042 a-b Jane "JJ" <b>!\n-- Shop'
    assert renderer.render("c", "push.json", None, context) == \
        '{"title": "Jane \\"JJ\\" <b>"}'
