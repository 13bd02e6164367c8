"""The ``push.json`` template and the bytes of a push message.

``push.json`` is a JSON object whose values are Jinja, rendered JSON-safely: every
``{{ ... }}`` output is escaped for a JSON string (a customer named ``Jane "JJ" O'Brien``
cannot break the document), the result is parsed and checked (known keys, a title), and
its size after aes128gcm encryption is computed: push services accept at most 4096 bytes
of encrypted body, so the dispatcher knows the size before sending (validate, plan, the
send-time skip).
"""

from __future__ import annotations

import json
import math
from typing import Any

from channels.base import Recipient, RenderedMessage, TemplateProblem, Templates
from channels.webpush_settings import MAX_ENCRYPTED_BYTES

# RFC 8188 aes128gcm as pywebpush sends it: a header of 16 salt + 4 record size + 1 key id
# length + 65 key id, then records of at most 4096 bytes, each carrying a 16-byte tag and
# a 1-byte delimiter.
HEADER_BYTES = 86
RECORD_SIZE = 4096
PER_RECORD_BYTES = 17

def encrypted_size(plaintext_bytes: int) -> int:
    """Bytes on the wire for ``plaintext_bytes`` encrypted with aes128gcm (pywebpush)."""
    records = max(1, math.ceil(plaintext_bytes / (RECORD_SIZE - PER_RECORD_BYTES)))
    return HEADER_BYTES + plaintext_bytes + PER_RECORD_BYTES * records


def encode_payload(payload: dict[str, str]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


PART = "push.json"
FIELDS = {"title": True, "body": False, "url": False, "icon": False, "badge": False,
          "image": False, "tag": False}


def find_template(templates: Templates, folder: str, locale: str | None) -> str | None:
    return templates.find(folder, PART, locale)


def render_payload(templates: Templates, folder: str, locale: str | None,
                   context: dict[str, Any]) -> tuple[dict[str, str], str]:
    """The rendered payload and the template's file name; TemplateProblem when invalid.
    The renderer escapes every ``{{ }}`` of a ``.json`` part for a JSON string."""
    name = find_template(templates, folder, locale)
    text = templates.render(folder, PART, locale, context)
    if name is None or text is None:
        raise TemplateProblem(f"{templates.root / folder}/{PART}", None, f"missing template {PART}")
    filename = str(templates.root / name)
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateProblem(filename, exc.lineno,
                              f"not valid JSON after rendering: {exc.msg} "
                              f"(column {exc.colno})") from None
    return _check_fields(payload, filename, text), filename


def _check_fields(payload: Any, filename: str, text: str) -> dict[str, str]:
    if not isinstance(payload, dict):
        raise TemplateProblem(filename, 1, "push.json must be a JSON object")
    for key, value in payload.items():
        if key not in FIELDS:
            raise TemplateProblem(filename, _line_of(text, key),
                                  f"unknown key '{key}' (allowed: {', '.join(FIELDS)})")
        if not isinstance(value, str):
            raise TemplateProblem(filename, _line_of(text, key), f"'{key}' must be a string")
    for key, required in FIELDS.items():
        if required and not str(payload.get(key, "")).strip():
            raise TemplateProblem(filename, _line_of(text, key) if key in payload else 1,
                                  f"'{key}' is required and must not be empty")
    return {k: v for k, v in payload.items() if v != ""}


def _line_of(text: str, key: str) -> int:
    needle = json.dumps(key)
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    return 1


def compose_push(templates: Templates, folder: str, campaign: str, to: Recipient,
                 context: dict[str, Any]) -> RenderedMessage:
    """A push message: the rendered payload plus the subscription it goes to."""
    payload, filename = render_payload(templates, folder, to.locale, context)
    keys = dict((to.data or {}).get("keys") or {})
    return RenderedMessage(
        campaign=campaign, channel="push", customer_id=to.customer_id, to=to.address,
        to_name=to.name, subject=payload["title"], text=payload.get("body", ""),
        data={**payload_data(payload), "template_file": filename,
              # the file transport leaves "subscription" out: its keys decrypt messages
              "subscription": {"endpoint": to.address, "keys": keys}},
    )


def payload_data(payload: dict[str, str]) -> dict[str, Any]:
    """The payload with its encrypted size and preview (again after links change)."""
    body = encode_payload(payload)
    size = encrypted_size(len(body))  # over the limit: see check_push / send_time_skip
    return {"payload": payload, "encrypted_size": size,
            "preview_lines": [f"push payload ({size} of {MAX_ENCRYPTED_BYTES} bytes "
                              f"encrypted):", body.decode()]}
