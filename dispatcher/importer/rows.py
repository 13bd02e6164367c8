"""Row models for imports: each field validated, each error named by field."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator

from dispatcher.importer.limits import (
    JSON_DEPTH_LIMIT,
    JSON_SIZE_LIMIT,
    check_json,
    has_control,
    one_line,
    quote,
    size_text,
)

CONSENT_YES = {"yes", "y", "true", "1", "granted", "opt-in", "optin", "subscribed"}
CONSENT_NO = {"no", "n", "false", "0", "withdrawn", "opt-out", "optout", "unsubscribed"}
CHANNEL_COLUMNS = {"email": "email", "phone": "sms", "telegram_chat_id": "telegram"}


def _blank_to_none(value: Any) -> Any:
    return None if isinstance(value, str) and value.strip() == "" else value


def parse_timestamp(value: Any) -> datetime | None:
    """ISO 8601; naive values are taken as UTC; stored as naive UTC."""
    value = _blank_to_none(value)
    if value is None or isinstance(value, datetime):
        return value
    text = str(value).strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{quote(value)} is not a date and time (ISO 8601, e.g. "
                         "2026-05-01 or 2026-05-01T09:30:00Z)") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def parse_json_field(value: Any) -> Any:
    """A JSON field (``attributes``, cart ``items``): from text in a CSV cell, or as is
    from JSONL; bounded in size and nesting, no control characters in its strings."""
    if isinstance(value, str):
        if len(value) > JSON_SIZE_LIMIT:
            raise ValueError(f"{quote(value)} is longer than {size_text(JSON_SIZE_LIMIT)}")
        try:
            value = json.loads(value)
        except RecursionError:
            raise ValueError("invalid JSON: nested too deeply") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{quote(exc.doc)} is not valid JSON ({exc.msg})") from None
    check_json(value, JSON_DEPTH_LIMIT, JSON_SIZE_LIMIT)  # ValueErrors naming the limit
    return value


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    # Free text that may span lines; every other text field is one line.
    MULTILINE: ClassVar[frozenset[str]] = frozenset({"consent_text"})

    @field_validator("*", mode="before")
    @classmethod
    def _blanks(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and has_control(value):  # rare: one regex search
            multiline = info.field_name in cls.MULTILINE
            if not multiline:
                value = one_line(value)  # Excel's Alt+Enter in a name cell
            if has_control(value, multiline):
                raise ValueError(f"{quote(value)} contains a control character")
        return _blank_to_none(value)


class CustomerRow(_Row):
    id: str = Field(min_length=1, max_length=64)
    name: str | None = Field(default=None, max_length=4096)
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    birthday: date | None = None
    email: str | None = Field(default=None, max_length=254)
    phone: str | None = Field(default=None, max_length=32)
    telegram_chat_id: str | None = Field(default=None, max_length=24)
    email_consent: str | None = Field(default=None, max_length=32)
    sms_consent: str | None = Field(default=None, max_length=32)
    telegram_consent: str | None = Field(default=None, max_length=32)
    consent_at: datetime | None = None
    consent_source: str | None = Field(default=None, max_length=256)
    consent_text: str | None = Field(default=None, max_length=4096)
    created_at: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is None:
            return None
        local, at, domain = value.rpartition("@")
        if not at or not local or "." not in domain or " " in value:
            raise ValueError(f"not an email address: {value!r}")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        digits = "".join(ch for ch in value if ch.isdigit())
        if not value.strip().startswith("+") or not 8 <= len(digits) <= 15:
            raise ValueError(f"phone must be in international format like +380501234567; "
                             f"got {value!r}")
        return "+" + digits

    @field_validator("telegram_chat_id")
    @classmethod
    def _chat_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.lstrip("-").isdigit():
            raise ValueError(f"telegram_chat_id must be the numeric chat id (not a @username); "
                             f"got {value!r}")
        return str(int(value))

    @field_validator("email_consent", "sms_consent", "telegram_consent")
    @classmethod
    def _consent(cls, value: str | None) -> str | None:
        if value is None:
            return None
        lowered = str(value).strip().lower()
        if lowered in CONSENT_YES:
            return "granted"
        if lowered in CONSENT_NO:
            return "withdrawn"
        raise ValueError(f"consent must be yes or no; got {value!r}")

    @field_validator("consent_at", "created_at", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> Any:
        return parse_timestamp(value)

    @field_validator("attributes", mode="before")
    @classmethod
    def _attrs(cls, value: Any) -> Any:
        return {} if value is None else parse_json_field(value)


class OrderRow(_Row):
    id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    placed_at: datetime
    total: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: str = Field(min_length=3, max_length=3)
    promo_code: str | None = Field(default=None, max_length=64)
    status: str | None = Field(default=None, max_length=32)
    delivered_at: datetime | None = None

    @field_validator("placed_at", "delivered_at", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> Any:
        return parse_timestamp(value)

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class CartRow(_Row):
    id: str = Field(min_length=1, max_length=64)
    customer_id: str = Field(min_length=1, max_length=64)
    updated_at: datetime
    total: Decimal | None = Field(default=None, ge=0, max_digits=14, decimal_places=2)
    currency: str | None = Field(default=None, min_length=3, max_length=3)
    items: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("updated_at", mode="before")
    @classmethod
    def _ts(cls, value: Any) -> Any:
        return parse_timestamp(value)

    @field_validator("items", mode="before")
    @classmethod
    def _items(cls, value: Any) -> Any:
        return [] if value is None else parse_json_field(value)


def address_channels(text: str) -> list[str]:
    """The channels ``text`` is an address of, by the rules an import applies."""
    fits = []
    for column, channel in CHANNEL_COLUMNS.items():
        try:
            CustomerRow.model_validate({"id": "probe", column: text})
        except ValidationError:
            continue
        if text.strip():
            fits.append(channel)
    if text.startswith(("https://", "http://")):
        fits.append("push")
    return fits


ROW_MODELS: dict[str, type[_Row]] = {"customers": CustomerRow, "orders": OrderRow,
                                     "carts": CartRow}
