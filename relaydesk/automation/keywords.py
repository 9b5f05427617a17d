"""Keyword matching on Chinese and English text (the seeds' "customer sends a keyword").

Both the text and the keywords are normalised the same way:

* Unicode NFKC: full-width letters, digits and punctuation become their half-width forms
  (``ＷＨＥＲＥ`` → ``WHERE``, ``？`` → ``?``), compatibility characters their plain forms;
* case folding (``Where``, ``WHERE``, ``where`` are equal; ``ß`` folds to ``ss``);
* runs of white space (including the ideographic space U+3000) become one space.

A keyword that contains a CJK character matches as a **substring** (Chinese has no spaces
between words: ``查订单`` matches ``你好，帮我查订单``). Any other keyword matches as a **whole
word**: the characters around it must not be letters or digits of an alphabetic script, so
``order`` matches ``where is my order?`` and ``帮我看order状态`` but not ``reorder``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

__all__ = ["KeywordMatcher", "has_cjk", "normalise_text"]

_SPACES = re.compile(r"\s+")
# Han (incl. extension A and compatibility ideographs), kana, Hangul syllables
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
#: letters and digits of alphabetic scripts (after case folding): a word goes on across them
_WORD = "0-9a-z\u00b5\u00df-\u00f6\u00f8-\u024f\u0370-\u03ff\u0400-\u04ff"


@lru_cache(maxsize=4096)
def _normalise_cached(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _SPACES.sub(" ", folded).strip()


def normalise_text(text: str) -> str:
    """NFKC, case folding and collapsed white space (see the module docstring)."""
    if len(text) <= 256:
        return _normalise_cached(text)
    return _SPACES.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


@dataclass(frozen=True)
class KeywordMatcher:
    """Matches a text against a list of keywords: ``any`` (one suffices) or ``all``."""

    keywords: tuple[str, ...]
    mode: Literal["any", "all"] = "any"

    @classmethod
    def build(cls, keywords: Sequence[str], mode: Literal["any", "all"] = "any") -> KeywordMatcher:
        return cls(tuple(normalise_text(k) for k in keywords if normalise_text(k)), mode)

    def matches(self, text: str) -> list[str]:
        """The (normalised) keywords found in ``text``; empty when the rule is not met."""
        if not self.keywords:
            return []
        normalised = normalise_text(text)
        found = [k for k in self.keywords if _found(k, normalised)]
        if self.mode == "all" and len(found) != len(self.keywords):
            return []
        return found


@lru_cache(maxsize=4096)
def _word_pattern(keyword: str) -> re.Pattern[str]:
    return re.compile(rf"(?<![{_WORD}]){re.escape(keyword)}(?![{_WORD}])")


def _found(keyword: str, text: str) -> bool:
    if keyword not in text:
        return False  # cheap rejection before any regex
    if has_cjk(keyword):
        return True
    return _word_pattern(keyword).search(text) is not None
