"""How many SMS segments a text is, and the error when it is too long.

Text that fits the GSM 03.38 alphabet is sent 7-bit: 160 characters in one message, 153 per
segment of a longer one (the extension characters ``^{}\\[~]|€`` count twice). Anything else
(Chinese, emoji) is sent UCS-2: 70 UTF-16 code units in one message, 67 per segment. The
gateway puts the ``【签名】`` sign name in front of messages to mainland numbers and the
operators count it, so it is counted too (its full-width brackets make them UCS-2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

__all__ = ["Segmentation", "TextTooLong", "check_length", "segment"]

_GSM = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("^{}\\[~]|€\f")


@dataclass(frozen=True)
class Segmentation:
    encoding: Literal["gsm7", "ucs2"]
    #: characters as the network counts them (septets or UTF-16 code units)
    units: int
    segments: int

    @property
    def per_segment(self) -> int:
        single, multi = (160, 153) if self.encoding == "gsm7" else (70, 67)
        return single if self.segments <= 1 else multi


class TextTooLong(ValueError):
    """The reply needs more segments than the inbox allows (a permanent failure)."""


def segment(text: str) -> Segmentation:
    if all(c in _GSM or c in _GSM_EXTENSION for c in text):
        units = sum(2 if c in _GSM_EXTENSION else 1 for c in text)
        return Segmentation("gsm7", units, 1 if units <= 160 else math.ceil(units / 153))
    units = len(text.encode("utf-16-le")) // 2
    return Segmentation("ucs2", units, 1 if units <= 70 else math.ceil(units / 67))


def check_length(text: str, sign_name: str | None, max_segments: int) -> Segmentation:
    """The segmentation of ``【sign_name】text`` (``text`` when no sign is put in front);
    :class:`TextTooLong` over ``max_segments``."""
    seg = segment(f"【{sign_name}】{text}" if sign_name else text)
    if seg.segments > max_segments:
        limit = max_segments * (153 if seg.encoding == "gsm7" else 67)
        kind = "GSM" if seg.encoding == "gsm7" else "Chinese/Unicode"
        with_sign = f" with the sign 【{sign_name}】" if sign_name else ""
        raise TextTooLong(
            f"too long for SMS: {seg.units} characters{with_sign} make {seg.segments} "
            f"segments; this inbox allows {max_segments} (about {limit} {kind} characters); "
            "shorten the reply"
        )
    return seg
