"""Variants and holdout: deterministic, stable assignment; overrides reach the message."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default as default_policy

from sqlalchemy import select

from dispatcher.app import load
from dispatcher.experiments.assign import assign
from dispatcher.store.bucket_hash import bucket_of, hash_prefix
from dispatcher.store.schema import outbox, runs

from .reports_shop import NOW, build, campaign_yaml, configure, engine, later, recipients
from .shop import Shop


def variants_by_customer(shop: Shop) -> dict[str, dict[int, str]]:
    """customer -> {run_id: variant}"""
    out: dict[str, dict[int, str]] = {}
    with engine(shop).connect() as conn:
        for row in conn.execute(select(outbox.c.customer_id, outbox.c.run_id, outbox.c.variant)):
            out.setdefault(row.customer_id, {})[row.run_id] = row.variant
    return out


def test_sqlite_bucket_equals_python_reference(shop: Shop) -> None:
    eng = engine(shop)
    prefix = hash_prefix("spring-sale", "promo")
    ids = [f"c{i}" for i in range(500)] + ["Олена", "", "a:b:c", "x" * 64]
    with eng.connect() as conn:
        for customer in ids:
            sql = conn.exec_driver_sql("SELECT dispatcher_bucket(?, ?)",
                                       (prefix, customer)).scalar()
            assert sql == bucket_of(prefix, customer)


def test_variant_never_changes_across_runs_and_reloads(shop: Shop) -> None:
    # Given a campaign that plans everyone on every run (once_per: run)
    build(shop, 400, once_per="run")
    shop.cli("run-once", "promo", "--at", NOW.isoformat())
    # When the config is reloaded (edited elsewhere) and the campaign runs again later
    configure(shop, once_per="run", description="edited copy")
    shop.cli("run-once", "promo", "--at", later(1))
    shop.cli("run-once", "promo", "--at", later(2))
    # Then every customer is in the same arm in every run, the one Python computes
    loaded = load(str(shop.config_path))
    campaign = loaded.config.campaigns["promo"]
    seen = variants_by_customer(shop)
    assert len(seen) == 400
    for customer, per_run in seen.items():
        assert len(per_run) == 3
        assert set(per_run.values()) == {assign("promo", campaign, customer)}
    # and the arms are close to the configured shares (20% holdout, rest 1:1)
    counts: dict[str, int] = {}
    for per_run in seen.values():
        arm = next(iter(per_run.values()))
        counts[arm] = counts.get(arm, 0) + 1
    assert 50 <= counts["holdout"] <= 110 and 120 <= counts["A"] <= 200, counts


def test_holdout_is_never_sent_and_variant_overrides_reach_the_message(shop: Shop) -> None:
    build(shop, 200)
    shop.cli("run-once", "promo")
    rows = recipients(engine(shop))
    files = {p.stem: p for p in (shop.folder / "outbox" / "email" / "promo").glob("*.eml")}
    held = [r for r in rows if r.variant == "holdout"]
    assert held and all(str(r.id) not in files for r in held)
    assert len(files) == len(rows) - len(held)
    for row in rows:
        if row.variant == "holdout":
            continue
        message = message_from_bytes(files[str(row.id)].read_bytes(), policy=default_policy)
        text = message.get_body(("plain",)).get_content()
        if row.variant == "B":
            # the variant's own subject, rendered for each recipient (compiled once)
            first_name = message["To"].addresses[0].display_name.split(" ")[0]
            assert message["Subject"] == f"{first_name}, 20% off just for you"
            assert "Take 20% off." in text
        else:
            assert message["Subject"].startswith("We miss you")
            assert "Take" not in text


def test_run_records_the_experiment_and_validate_warns_on_changed_weights(shop: Shop) -> None:
    build(shop, 50)
    shop.cli("run-once", "promo")
    with engine(shop).connect() as conn:
        recorded = conn.execute(select(runs.c.experiment)).scalar_one()
    assert recorded == {"salt": "promo", "holdout": 0.2, "weights": {"A": 1.0, "B": 1.0}}
    ok = shop.cli("validate")
    assert "mid-experiment" not in ok.output
    configure(shop, weights=(1, 3))
    warned = " ".join(shop.cli("validate").output.split())  # rich wraps long lines
    assert "warning: campaigns.promo: holdout/weights changed mid-experiment" in warned
    assert "config.yaml:" in warned
    # a new salt is a deliberate new experiment: no warning
    configure(shop, weights=(1, 3), salt="experiment-2")
    assert "mid-experiment" not in shop.cli("validate").output


def write_campaign(shop: Shop, text: str) -> None:
    head = shop.config_path.read_text().split("campaigns:")[0]
    shop.config_path.write_text(head + "campaigns:\n" + "\n".join(
        "  " + line for line in text.splitlines()) + "\n", encoding="utf-8")


def test_experiment_config_errors_are_located(shop: Shop) -> None:
    build(shop, 5)
    write_campaign(shop, campaign_yaml(holdout="120%"))
    out = " ".join(shop.cli("validate", expect=2).output.split())
    assert "config.yaml:21:" in out
    assert "campaigns.promo.holdout: a share must be at least 0% and below 100%" in out
    write_campaign(shop, campaign_yaml().replace("    B:\n", (
        "    holdout:\n      template: nowhere\n    B:\n      channels: [email, sms]\n")))
    out = " ".join(shop.cli("validate", expect=2).output.split())
    assert "campaigns.promo.variants.holdout: invalid variant name" in out
    assert "campaigns.promo.variants.holdout.template: template folder not found" in out
    assert "campaigns.promo.variants.B.channels: a variant reorders" in out
    assert "config.yaml:" in out


def test_preview_shows_the_customers_own_variant(shop: Shop) -> None:
    build(shop, 40)
    campaign = load(str(shop.config_path)).config.campaigns["promo"]
    by_arm = {assign("promo", campaign, f"c{i:05d}"): f"c{i:05d}" for i in range(40)}
    b = shop.cli("preview", "promo", "--customer", by_arm["B"]).output
    a = shop.cli("preview", "promo", "--customer", by_arm["A"]).output
    assert "20% off just for you" in b and "Take 20% off." in b
    assert "We miss you" in a and "Take" not in a


def test_holdout_rows_do_not_count_toward_caps(shop: Shop) -> None:
    # Given a global cap of one marketing message a week and two campaigns on one segment
    build(shop, 150)
    text = shop.config_path.read_text() + (
        "  second:\n    segment: buyers\n    channels: [email]\n    template: promo\n"
        '    schedule: "0 * * * *"\n'
        "caps:\n  global: 1 per 7d\n")
    shop.config_path.write_text(text, encoding="utf-8")
    # When the A/B campaign runs first, then the other one
    shop.cli("run-once", "promo")
    shop.cli("run-once", "second")
    # Then only the customers held out of the first can get the second
    with engine(shop).connect() as conn:
        rows = conn.execute(select(outbox.c.campaign, outbox.c.customer_id, outbox.c.status,
                                   outbox.c.reason)).all()
    held = {r.customer_id for r in rows if r.campaign == "promo" and r.status == "held_out"}
    sent_second = {r.customer_id for r in rows if r.campaign == "second" and r.status == "sent"}
    assert held and sent_second == held
    capped = [r for r in rows if r.campaign == "second" and r.status == "skipped"]
    assert len(capped) == 150 - len(held)
    assert all(r.reason.startswith("capped:global") for r in capped)
