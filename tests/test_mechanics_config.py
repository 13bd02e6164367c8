"""Mistakes in the mechanics' config come out located, all at once, before anything runs."""

from __future__ import annotations

from .shop import Shop


def test_mechanics_errors_are_located(shop: Shop) -> None:
    shop.write_config("email:\n  transport: file\n", "everyone:\n  id: {is_null: false}\n", """
sale:
  segment: everyone
  starts_at: 2026-12-10
  steps:
    - {name: announce, at: -3d}
    - {name: reminder, at: "tomorrow"}
cart:
  segment: everyone
  trigger: {first_order: {within: 1d}}
  once_per: cart
offer:
  segment: everyone
  expires_at: "next friday"
coupon:
  segment: everyone
  promo: {length: 4}
tiered:
  segment: everyone
  once_per: tier
""")
    for name in ("sale/announce", "sale/reminder", "cart", "offer", "coupon", "tiered"):
        shop.template(f"{name}/email.subject", "Hi")
        shop.template(f"{name}/email.txt", "Hi")
    out = shop.cli("validate", expect=2).output
    lines = out.splitlines()

    def line_with(fragment: str) -> str:
        found = [line for line in lines if fragment in line]
        assert found, out
        return found[0]

    assert line_with("campaigns.sale.steps.1.at").startswith("config.yaml:")
    assert "expected an offset like -3d" in line_with("campaigns.sale.steps.1.at")
    assert "once_per: cart needs a trigger about a cart" in line_with("campaigns.cart")
    assert "expected a date like 2026-12-05" in line_with("campaigns.offer.expires_at")
    assert "campaigns.coupon.promo.length" in out
    assert "nothing was sent" in out


def test_tier_key_needs_loyalty_tiers(shop: Shop) -> None:
    shop.write_config("email:\n  transport: file\n", "everyone:\n  id: {is_null: false}\n", """
tiered:
  segment: everyone
  once_per: tier
""")
    shop.template("tiered/email.subject", "Hi")
    shop.template("tiered/email.txt", "Hi")
    out = shop.cli("validate", expect=2).output
    assert "campaigns.tiered.once_per: needs loyalty.tiers in the config" in out


def test_validate_renders_steps_as_they_will_be_sent(shop: Shop) -> None:
    # Given: the announce step issues no code but its template prints one;
    # a cart template that forgets customers without a cart
    shop.write_config("email:\n  transport: file\n", "everyone:\n  id: {is_null: false}\n", """
sale:
  segment: everyone
  starts_at: 2026-12-10
  promo: {prefix: "VIP-"}
  steps:
    - {name: announce, at: -3d, promo: false}
    - {name: opens, at: 0d}
cart:
  segment: everyone
""")
    shop.template("sale/announce/email.subject", "Soon")
    shop.template("sale/announce/email.txt", "Your code {{ promo.code }}")
    shop.template("sale/opens/email.subject", "Open")
    shop.template("sale/opens/email.txt", "Your code {{ promo.code }}")
    shop.template("cart/email.subject", "Cart")
    shop.template("cart/email.txt", "{{ cart['items'] | length }} items")
    out = shop.cli("validate", expect=2).output
    assert "templates/sale/announce/email.txt:1" in out
    assert "sale/opens" not in out
    assert "templates/cart/email.txt:1" in out
