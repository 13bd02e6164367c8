"""Clicks in the A/B report, on a synthetic shop with known click probabilities.

Given customers planned and sent through the real planner and sender (file transport)
with a tracked link in every message, when each message is clicked by a person with a
known per-variant probability (and machines add clicks that must not count), then the
report's click-through interval covers the true probability in about 95% of seeds, and
with orders still too few it gives a verdict on clicks, labelled as such.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import delete, insert

from dispatcher.app import load
from dispatcher.reports.abtest import build_report
from dispatcher.reports.power import recipients_needed
from dispatcher.store.schema import clicks, orders

from .reports_shop import HISTORY, NOW, build, draw_orders, engine, later, recipients
from .shop import Shop

TRUE_CTR = {"A": 0.08, "B": 0.12}


@pytest.fixture(scope="module")
def click_shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("DISPATCHER_DATABASE_URL", raising=False)
        patch.delenv("DISPATCHER_CONFIG", raising=False)
        shop = Shop(tmp_path_factory.mktemp("click_shop"))
        build(shop, 2000)
        shop.template("promo/email.txt", "Hi {{ customer.first_name }}!\n"
                      "New in the shop: {{ shop.url }}/new\n"
                      "Unsubscribe: {{ unsubscribe_url }}\n")
        shop.cli("run-once", "promo")
        yield shop


def draw_clicks(shop: Shop, seed: int,
                probabilities: dict[str, float] | None = None) -> dict[str, int]:
    """Replace the clicks: each sent message is clicked by its person with the arm's
    probability (sometimes twice); scanners and previews click others. Returns the
    people who clicked, per arm."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    clicked: dict[str, int] = {}
    for row in recipients(engine(shop)):
        if row.status != "sent":
            continue
        if rng.random() < (probabilities or TRUE_CTR)[row.variant]:
            clicked[row.variant] = clicked.get(row.variant, 0) + 1
            at = row.sent_at + timedelta(hours=rng.uniform(0.5, 48))
            for repeat in range(rng.choice((1, 1, 2))):
                rows.append({"outbox_id": row.id, "link": 0, "agent": "mobile", "bot": None,
                             "at": at + timedelta(minutes=repeat)})
        if rng.random() < 0.1:  # a security scanner or a link preview, not the person
            rows.append({"outbox_id": row.id, "link": 0, "agent": "scanner",
                         "bot": rng.choice(("head", "scanner", "bot", "prefetch")),
                         "at": row.sent_at + timedelta(seconds=2)})
    with engine(shop).begin() as conn:
        conn.execute(delete(clicks))
        conn.execute(delete(orders).where(orders.c.placed_at > HISTORY))
        if rows:
            conn.execute(insert(clicks), rows)
    return clicked


def test_report_counts_people_and_machines_apart(click_shop: Shop) -> None:
    truth = draw_clicks(click_shop, seed=1)
    data = json.loads(click_shop.cli("report", "promo", "--format", "json",
                                     "--at", later(30)).output)
    funnel = {arm["arm"]: arm for arm in data["funnel"]}
    sent = {arm: sum(1 for r in recipients(engine(click_shop))
                     if r.variant == arm and r.status == "sent") for arm in ("A", "B")}
    for arm in ("A", "B"):
        assert funnel[arm]["clicked"] == truth[arm]
        assert funnel[arm]["sent"] == funnel[arm]["delivered"] == sent[arm]
        assert funnel[arm]["click_rate"] == pytest.approx(truth[arm] / sent[arm])
        assert funnel[arm]["bot_clicks"] > 0
    assert funnel["holdout"]["sent"] == funnel["holdout"]["clicked"] == 0
    assert funnel["holdout"]["click_rate"] is None
    assert funnel["holdout"]["planned"] == len([r for r in recipients(engine(click_shop))
                                                if r.variant == "holdout"])
    assert data["click_baseline"] == "A"
    # no orders at all: the verdict on clicks says it is one
    assert data["verdict"].startswith("Not significant yet")
    assert data["click_verdict"].startswith("On clicks (orders are still too few")
    csv = click_shop.cli("report", "promo", "--format", "csv", "--at", later(30)).output
    header = csv.splitlines()[0].split(",")
    assert {"sent", "clicked", "click_rate", "click_rate_ci_low", "bot_clicks"} <= set(header)
    table = click_shop.cli("report", "promo", "--at", later(30)).output
    assert "click rate" in table and "On clicks" in table
    # --format html: the funnel as a chart, drawn from the same numbers
    page = click_shop.folder / "report.html"
    click_shop.cli("report", "promo", "--format", "html", "-o", str(page), "--at", later(30))
    text = page.read_text(encoding="utf-8")
    assert '<figure id="chart-funnel"><svg' in text and 'id="click-verdict"' in text
    chart = json.loads(text.split('id="chart-data">')[1].split("</script>")[0])
    assert {row["arm"]: row["clicked"] for row in chart["funnel"]} == \
        {"holdout": 0, **truth}


def test_click_through_interval_covers_the_truth_in_about_95_percent_of_seeds(
        click_shop: Shop) -> None:
    eng = engine(click_shop)
    loaded = load(str(click_shop.config_path))
    covered = total = clicks_verdicts = 0
    difference_covered = 0
    seeds = 100
    for seed in range(seeds):
        draw_clicks(click_shop, seed=1000 + seed)
        report = build_report(eng, loaded, "promo", NOW + timedelta(days=30),
                              record_view=False)
        assert report.funnel is not None
        for arm, p in TRUE_CTR.items():
            found = report.funnel.arm(arm)
            assert found is not None and found.ctr_ci is not None
            covered += found.ctr_ci.covers(p)
            total += 1
        b = report.funnel.arm("B")
        assert b is not None and b.comparison is not None
        difference_covered += b.comparison.diff_ci.covers(TRUE_CTR["B"] - TRUE_CTR["A"])
        clicks_verdicts += "variant B gets more clicks" in report.click_verdict
    assert 0.90 <= covered / total <= 0.99, (covered, total)
    assert 0.88 <= difference_covered / seeds <= 1.0, difference_covered
    # a 4-point difference on about 900 messages per arm: found in most seeds
    assert clicks_verdicts >= 0.6 * seeds, clicks_verdicts


def test_a_null_test_says_what_it_can_detect_not_how_long_to_wait(click_shop: Shop) -> None:
    # Given variants that truly do the same (orders and clicks alike)
    draw_clicks(click_shop, seed=5, probabilities={"A": 0.1, "B": 0.1})
    same = {"holdout": 0.05, "A": 0.05, "B": 0.05}
    draw_orders(engine(click_shop), same, seed=5)
    data = json.loads(click_shop.cli("report", "promo", "--format", "json", "--mde", "1pp",
                                     "--at", later(30)).output)
    verdict = data["verdict"]
    # Then the report does not invite extending it with "N more recipients needed"
    assert verdict.startswith("Not significant yet.")
    assert "more recipients needed" not in verdict
    assert "smallest conversion difference this test detects" in verdict
    assert "To detect +1.0 pts:" in verdict
    by_arm = {a["arm"]: a for a in data["arms"]}
    for item in data["not_yet"]["conversion"]:
        # the sample for the named effect, from the baseline's observed rate
        p0 = by_arm["holdout"]["conversion_rate"]
        ratio = item["recipients"] / item["baseline_recipients"]
        baseline, arm = recipients_needed(p0, 0.01, ratio, item["significance"])
        assert item["recipients_needed"] == {"baseline": baseline, "arm": arm}
        assert 0.01 < item["minimum_detectable_effect"] < 0.08
    clicks = data["click_not_yet"]
    assert clicks and clicks[0]["arm"] == "B" and clicks[0]["baseline"] == "A"
    assert 0.01 < clicks[0]["minimum_detectable_effect"] < 0.06
    assert "no difference in click-through shown yet" in data["click_verdict"]
    assert "smallest click-through difference" in data["click_verdict"]


def test_clicks_writer_funnel_and_erasure_on_both_dialects(
        shop: Shop, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The writer stores clicks, the report's burst rule and counts agree, and ``forget``
    removes a person's clicks, on SQLite and on PostgreSQL alike."""
    from sqlalchemy import select

    from dispatcher.store.schema import tracked_links
    from dispatcher.tracking.recorder import EngagementRecorder

    monkeypatch.setenv("DISPATCHER_DATABASE_URL", db_url)
    build(shop, 120)
    shop.template("promo/email.txt", "New: {{ shop.url }}/new\nSale: {{ shop.url }}/sale\n"
                  "Unsubscribe: {{ unsubscribe_url }}\n")
    shop.cli("run-once", "promo")
    eng = engine(shop)
    sent = [r for r in recipients(eng) if r.status == "sent"]
    with eng.connect() as conn:
        links = conn.execute(select(tracked_links.c.outbox_id, tracked_links.c.link)).all()
    assert len(links) == 2 * len(sent)
    scanned, person, both = sent[0], sent[1], sent[2]
    recorder = EngagementRecorder(eng, flush_interval=0.05)
    # a scanner fetches every link of one message right after sending: a burst
    for link in (0, 1):
        recorder.click(scanned.id, link, scanned.sent_at + timedelta(seconds=3), "desktop",
                       None)
    # a person clicks one link early (not every link: a person's click), then again
    recorder.click(person.id, 0, person.sent_at + timedelta(seconds=5), "mobile", None)
    recorder.click(person.id, 0, person.sent_at + timedelta(days=1), "mobile", None)
    # a HEAD, then the person; every link clicked, but late: people's clicks
    recorder.click(both.id, 1, both.sent_at + timedelta(seconds=1), "bot", "head")
    recorder.click(both.id, 0, both.sent_at + timedelta(hours=2), "desktop", None)
    recorder.click(both.id, 1, both.sent_at + timedelta(hours=2), "desktop", None)
    recorder.close()
    data = json.loads(shop.cli("report", "promo", "--format", "json",
                               "--at", later(30)).output)
    totals = {key: sum(arm[key] for arm in data["funnel"])
              for key in ("clicked", "clicks", "bot_clicked", "bot_clicks")}
    assert totals == {"clicked": 2, "clicks": 4, "bot_clicked": 2, "bot_clicks": 3}
    # erasing the person removes their clicks, and the report follows
    assert "2 click/open record(s) deleted" in shop.cli("forget", person.customer_id,
                                                        "--yes").output
    data = json.loads(shop.cli("report", "promo", "--format", "json",
                               "--at", later(30)).output)
    assert sum(arm["clicked"] for arm in data["funnel"]) == 1
    assert sum(arm["planned"] for arm in data["funnel"]) == len(recipients(eng))
