"""The fields a segment may filter on, and the operators each kind accepts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["text", "number", "age", "bool", "birthday", "consent", "attribute", "segment"]


@dataclass(frozen=True)
class FieldSpec:
    kind: Kind
    source: str  # which relation provides it: customer | orders | cart | special
    help: str


FIELDS: dict[str, FieldSpec] = {
    "id": FieldSpec("text", "customer", "customer id"),
    "name": FieldSpec("text", "customer", "customer name"),
    "locale": FieldSpec("text", "customer", "language code, e.g. uk or en"),
    "timezone": FieldSpec("text", "customer", "IANA time zone of the customer"),
    "customer_age": FieldSpec("age", "customer", "time since the customer was created"),
    "orders_count": FieldSpec("number", "orders", "number of orders"),
    "total_spent": FieldSpec("number", "orders", "sum of order totals"),
    "avg_order_value": FieldSpec("number", "orders", "average order total"),
    "first_order_age": FieldSpec("age", "orders", "time since the first order"),
    "last_order_age": FieldSpec("age", "orders", "time since the last order"),
    "cart_age": FieldSpec("age", "cart", "time since the newest cart was updated"),
    "cart_value": FieldSpec("number", "cart", "total of the newest cart"),
    "ordered_since_cart": FieldSpec("bool", "cart", "an order was placed after the cart update"),
    "birthday": FieldSpec("birthday", "customer",
                          "'today' or {within: 7d}, in the customer's time zone"),
    "consent": FieldSpec("consent", "special",
                         "channel name(s) with granted, unsuppressed consent"),
    "segment": FieldSpec("segment", "special", "another segment by name"),
}

OPERATORS: dict[str, set[str]] = {
    "text": {"eq", "ne", "in", "not_in", "is_null", "contains", "starts_with"},
    "number": {"eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in", "is_null"},
    "age": {"gt", "gte", "lt", "lte", "between", "is_null"},
    "bool": {"eq"},
    "attribute": {"eq", "ne", "gt", "gte", "lt", "lte", "between", "in", "not_in", "is_null",
                  "contains", "starts_with"},
}
