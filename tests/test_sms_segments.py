"""Segment counting against the GSM 03.38 / UCS-2 rules carriers bill by."""

from __future__ import annotations

import pytest

from channels.sms_segments import count_segments

CASES = [
    ("", "GSM-7", 1),
    ("a" * 160, "GSM-7", 1),
    ("a" * 161, "GSM-7", 2),  # split: 153 per segment
    ("a" * 306, "GSM-7", 2),
    ("a" * 307, "GSM-7", 3),
    ("€" * 80, "GSM-7", 1),  # extension characters take two septets: 160
    ("€" * 81, "GSM-7", 2),
    ("a" * 152 + "€" + "a" * 10, "GSM-7", 2),  # 152 + 2 > 153: the pair moves on whole
    ("a" * 153 + "€" + "a" * 152, "GSM-7", 3),  # 153 + (2 + 152 > 153) -> 3 segments
    ("Ça coûte 5 £, à bientôt!", "UCS-2", 1),  # "û" and "ô" are not GSM-7
    ("Hello @ home, 100% ÄÖÜ äöü ñ ß É!", "GSM-7", 1),
    ("Привіт" * 11 + "abcd", "UCS-2", 1),  # 70 units
    ("П" * 71, "UCS-2", 2),  # split: 67 per segment
    ("П" * 134, "UCS-2", 2),
    ("П" * 135, "UCS-2", 3),
    ("😀" * 35, "UCS-2", 1),  # each emoji is two UTF-16 units: 70
    ("😀" * 36, "UCS-2", 2),
    ("a" * 66 + "😀" + "a" * 66, "UCS-2", 3),  # the pair is not split: 66 | 2+65 | 1
]


@pytest.mark.parametrize(("text", "encoding", "segments"), CASES,
                         ids=[f"{len(t)}-{e}-{s}" for t, e, s in CASES])
def test_segments(text: str, encoding: str, segments: int) -> None:
    count = count_segments(text)
    assert (count.encoding, count.segments) == (encoding, segments)


def test_describe_is_what_preview_prints() -> None:
    assert count_segments("Привіт").describe() == "1 segment (UCS-2, 6 characters)"
    assert count_segments("a" * 200).describe() == "2 segments (GSM-7, 200 characters)"
