"""How many SMS segments a text costs: GSM-7 (160 / 153) or UCS-2 (70 / 67).

A text that uses only the GSM 03.38 alphabet is sent 7 bits a character: 160 in
one segment, 153 per segment once it is split (the rest of each segment holds the
concatenation header). Characters of the GSM extension table (``€ [ ] { } ~ ^ | \\``
and form feed) take two septets (escape + char). Anything else (all Cyrillic, most
emoji) forces the whole message into UCS-2: 70 UTF-16 code units in one segment,
67 per segment when split; characters outside the BMP take two code units.

A two-unit character is never cut across segments, as handsets and Twilio do.
Each segment is billed, which is why ``plan`` shows the count and the cost.
"""

from __future__ import annotations

from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7 = "GSM-7"
UCS2 = "UCS-2"
_LIMITS = {GSM7: (160, 153), UCS2: (70, 67)}


@dataclass(frozen=True)
class SegmentCount:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int
    characters: int

    def describe(self) -> str:
        plural = "" if self.segments == 1 else "s"
        return (f"{self.segments} segment{plural} ({self.encoding}, "
                f"{self.characters} characters)")


def is_gsm7(text: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def _unit_widths(text: str, encoding: str) -> list[int]:
    if encoding == GSM7:
        return [2 if ch in GSM7_EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def count_segments(text: str) -> SegmentCount:
    """Segments ``text`` takes as one SMS (an empty text still costs one segment)."""
    encoding = GSM7 if is_gsm7(text) else UCS2
    widths = _unit_widths(text, encoding)
    units = sum(widths)
    single, multi = _LIMITS[encoding]
    if units <= single:
        return SegmentCount(encoding, units, 1, len(text))
    segments, used = 1, 0
    for width in widths:
        if used + width > multi:  # this character would straddle: start a new segment
            segments += 1
            used = 0
        used += width
    return SegmentCount(encoding, units, segments, len(text))
