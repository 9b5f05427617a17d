"""Keyword matching on Chinese and English text: normalisation properties (hypothesis) and the
cases a customer-service team writes rules for."""

from __future__ import annotations

import string

from hypothesis import given, settings
from hypothesis import strategies as st

from relaydesk.automation.keywords import KeywordMatcher, normalise_text

ASCII_WORDS = st.text(alphabet=string.ascii_letters, min_size=2, max_size=10)
HAN = st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=1,
              max_size=6)  # fmt: skip
FILLER = st.text(alphabet=" ，。！？,.!?" + "你好请帮我看一下谢谢", max_size=12)


def full_width(text: str) -> str:
    """ASCII printable → the full-width forms (U+FF01..U+FF5E), space → ideographic space."""
    return "".join(
        "\u3000" if c == " " else chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text
    )


@settings(max_examples=100)
@given(ASCII_WORDS, FILLER, FILLER)
def test_english_keyword_found_whatever_the_width_and_case(word: str, before: str, after: str
                                                           ) -> None:  # fmt: skip
    matcher = KeywordMatcher.build([word])
    text = f"{before} {word} {after}"
    assert matcher.matches(text)
    assert matcher.matches(text.upper())
    assert matcher.matches(full_width(text))
    assert matcher.matches(full_width(text.swapcase()))


@settings(max_examples=100)
@given(ASCII_WORDS, st.sampled_from(string.ascii_letters + string.digits))
def test_english_keyword_is_a_whole_word(word: str, glued: str) -> None:
    matcher = KeywordMatcher.build([word])
    assert not matcher.matches(f"say {glued}{word} now")
    assert not matcher.matches(f"say {word}{glued} now")


@settings(max_examples=100)
@given(HAN, st.text(max_size=20), st.text(max_size=20))
def test_chinese_keyword_matches_as_a_substring(keyword: str, before: str, after: str) -> None:
    assert KeywordMatcher.build([keyword]).matches(before + keyword + after)


@settings(max_examples=100)
@given(st.text(max_size=40))
def test_normalisation_is_idempotent_and_width_blind(text: str) -> None:
    once = normalise_text(text)
    assert normalise_text(once) == once
    printable = "".join(c for c in text if c in string.printable and c not in "\t\n\r\x0b\x0c")
    assert normalise_text(full_width(printable)) == normalise_text(printable)


def test_the_seed_keywords() -> None:
    matcher = KeywordMatcher.build(["查订单", "where is my order"])
    assert matcher.matches("你好，帮我查订单，谢谢")
    assert matcher.matches("Hi! WHERE  IS   MY ORDER???")
    assert matcher.matches("ｗｈｅｒｅ　ｉｓ　ｍｙ　ｏｒｄｅｒ？")  # typed with a full-width IME
    assert matcher.matches("请问where is my order呢")  # English inside Chinese, no spaces
    assert not matcher.matches("where is my orderly queue")
    assert not matcher.matches("我想查一下订单")  # 查 and 订单 apart: not the keyword


def test_all_mode_needs_every_keyword() -> None:
    matcher = KeywordMatcher.build(["退款", "refund"], mode="all")
    assert matcher.matches("我要退款 refund please") == ["退款", "refund"]
    assert matcher.matches("我要退款") == []


def test_keywords_that_normalise_to_nothing_are_ignored() -> None:
    assert KeywordMatcher.build(["  ", "\u3000"]).matches("anything") == []
