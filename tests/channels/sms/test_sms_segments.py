"""SMS segment counting: GSM 7-bit 160/153, UCS-2 70/67, the 【sign】 counted."""

from __future__ import annotations

import pytest

from relaydesk.channels.sms import TextTooLong, check_length, segment
from relaydesk.demo_systems.sms_gateway import sms_size


@pytest.mark.parametrize(
    ("text", "encoding", "units", "segments"),
    [
        ("a" * 160, "gsm7", 160, 1),
        ("a" * 161, "gsm7", 161, 2),
        ("a" * 306, "gsm7", 306, 2),
        ("a" * 307, "gsm7", 307, 3),
        ("{" * 80, "gsm7", 160, 1),  # extension characters count twice
        ("€" * 81, "gsm7", 162, 2),
        ("你" * 70, "ucs2", 70, 1),
        ("你" * 71, "ucs2", 71, 2),
        ("你" * 134, "ucs2", 134, 2),
        ("你" * 135, "ucs2", 135, 3),
        ("a" * 69 + "😀", "ucs2", 71, 2),  # an emoji is two UTF-16 units
    ],
)
def test_segments(text: str, encoding: str, units: int, segments: int) -> None:
    seg = segment(text)
    assert (seg.encoding, seg.units, seg.segments) == (encoding, units, segments)
    assert sms_size(text) == segments  # the demo gateway bills the same way


def test_the_sign_counts_and_makes_mainland_text_ucs2() -> None:
    assert check_length("Your parcel ships today", "云栖优选", 1).encoding == "ucs2"
    assert check_length("a" * 64, "云栖优选", 1).segments == 1  # 6 + 64 = 70
    assert check_length("a" * 65, "云栖优选", 2).segments == 2
    assert check_length("a" * 160, None, 1).encoding == "gsm7"  # international: no sign
    with pytest.raises(TextTooLong, match=r"71 characters with the sign 【云栖优选】 make 2"):
        check_length("a" * 65, "云栖优选", 1)
