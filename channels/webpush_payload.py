"""The bytes of a push message: the JSON payload as sent, and its size once encrypted.

Push services accept at most 4096 bytes of encrypted body, so the dispatcher computes
the size before sending (validate, plan, the send-time skip).
"""

from __future__ import annotations

import json
import math

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
