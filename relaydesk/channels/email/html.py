"""HTML and text of e-mails: sanitising, HTML → text, text → HTML, folding quoted text.

Customer HTML is sanitised with nh3 (the Ammonia sanitiser): scripts, styles, event handlers,
forms, iframes and ``javascript:`` links are removed, links get ``rel="noopener noreferrer
nofollow"``, and images keep only ``cid:`` sources (inline parts of the same mail): remote
images are dropped, so opening a mail never tells its sender who read it or from where.
"""

from __future__ import annotations

import html as htmllib
import re
from html.parser import HTMLParser

import nh3

__all__ = ["fold_quoted", "html_to_text", "sanitise_html", "text_to_html"]

_URL_SCHEMES = {"http", "https", "mailto", "tel", "cid"}
_BLOCK = {
    "p",
    "div",
    "br",
    "tr",
    "li",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "table",
    "ul",
    "ol",
    "blockquote",
    "pre",
    "hr",
    "section",
    "article",
    "header",
    "footer",
}
_PARAGRAPH = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote"}
_SKIP = {"script", "style", "head", "title", "template", "noscript"}


def _attribute_filter(tag: str, attribute: str, value: str) -> str | None:
    if tag == "img" and attribute == "src" and not value.lower().startswith("cid:"):
        return None
    return value


def sanitise_html(html: str) -> str:
    """Safe HTML to show an agent (see the module docstring)."""
    return nh3.clean(
        html,
        url_schemes=_URL_SCHEMES,
        attribute_filter=_attribute_filter,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCK:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _PARAGRAPH:
            self.parts.append("\n\n")
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"[ \t\r\n\f]+", " ", data))


def html_to_text(html: str) -> str:
    """The readable text of an HTML part (no tags, one blank line between blocks at most)."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_URL = re.compile(r"https?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")


def text_to_html(text: str) -> str:
    """An agent's plain reply as simple HTML: paragraphs, line breaks, links."""
    paragraphs = re.split(r"\n\s*\n", text.strip())
    out = []
    for para in paragraphs:
        escaped = htmllib.escape(para)
        linked = _URL.sub(lambda m: f'<a href="{m.group(0)}">{m.group(0)}</a>', escaped)
        out.append("<p>" + linked.replace("\n", "<br>\n") + "</p>")
    return '<div dir="auto">' + "\n".join(out) + "</div>"


_ATTRIBUTION = [
    re.compile(r"^On\b.{0,300}\bwrote:\s*$", re.S),
    re.compile(r"^在.{0,300}写道[:：]\s*$", re.S),
    re.compile(
        r"^-{2,}\s*(Original Message|Forwarded message|原始邮件|转发邮件|转发的邮件)\s*-{2,}", re.I
    ),
    re.compile(r"^_{20,}\s*$"),
]
_HEADER_BLOCK = re.compile(r"^(From|发件人)\s*[:：]", re.I)
_HEADER_NEXT = re.compile(r"^(Sent|Date|To|Subject|发送时间|时间|收件人|主题)\s*[:：]", re.I)


def _quote_start(lines: list[str]) -> int | None:
    for i, line in enumerate(lines):
        stripped = line.strip()
        if not stripped:
            continue
        two = stripped + " " + lines[i + 1].strip() if i + 1 < len(lines) else stripped
        if any(p.match(stripped) for p in _ATTRIBUTION) or _ATTRIBUTION[0].match(two):
            return i
        if _HEADER_BLOCK.match(stripped) and any(
            _HEADER_NEXT.match(n.strip()) for n in lines[i + 1 : i + 4]
        ):
            return i
    # a trailing block of "> " lines (and blank lines) with text before it
    end = len(lines)
    start = end
    for i in range(end - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped.startswith(">") or not stripped:
            start = i
            continue
        break
    if start < end and any(line.strip().startswith(">") for line in lines[start:]):
        return start
    return None


def fold_quoted(text: str) -> tuple[str, str]:
    """(new part, quoted part) of a reply; the quoted part is "" when nothing is quoted.

    Recognised: "On … wrote:" / "在 … 写道：" attributions, "Original Message" and Outlook
    header blocks, and a trailing block of ``>`` lines. A reply that is only a quote keeps
    everything as the new part (nothing would be left to show).
    """
    lines = text.replace("\r\n", "\n").split("\n")
    start = _quote_start(lines)
    if start is None:
        return text.strip(), ""
    new, quoted = "\n".join(lines[:start]).strip(), "\n".join(lines[start:]).strip()
    if not new:
        return text.strip(), ""
    return new, quoted
