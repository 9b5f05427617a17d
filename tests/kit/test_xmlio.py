"""XML bodies: safe parsing, rendering, round trips and Accept negotiation."""

from __future__ import annotations

import datetime as dt
import enum
import uuid
from decimal import Decimal

import pytest

from relaydesk.errors import BadRequest
from relaydesk.kit.xmlio import parse_xml, render_xml, wants_xml

# --- round trips -------------------------------------------------------------------------


def test_round_trip_nested_dict_with_chinese_text_and_lists() -> None:
    data = {
        "subject": "退款申请：订单 #1024 <加急> & 重要",
        "customer": {"name": "张伟", "phone": "+86 138 0013 8000", "城市": "上海"},
        "tags": ["紧急", "VIP"],
        "single": ["只有一个"],
        "empty": [],
        "lines": [
            {"sku": "A-1", "qty": "2", "notes": ["易碎", "加固包装"]},
            {"sku": "B-2", "qty": "1", "notes": []},
        ],
        "matrix": [["1", "2"], ["3"]],
        "note": None,
        "blank": "",
        "body": "  第一行\r\n第二行\n",
    }
    xml = render_xml(data, root="ticket")
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<ticket>')
    assert "张伟".encode() in xml  # real UTF-8, not character references
    assert parse_xml(xml) == data


def test_scalars_render_as_text_and_parse_back_as_strings() -> None:
    class Channel(enum.Enum):
        EMAIL = "email"

    data = {
        "ok": True,
        "off": False,
        "count": 3,
        "ratio": 0.25,
        "amount": Decimal("12.50"),
        "day": dt.date(2024, 2, 29),
        "at": dt.datetime(2024, 2, 29, 8, 30, tzinfo=dt.UTC),
        "id": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "channel": Channel.EMAIL,
    }
    assert parse_xml(render_xml(data)) == {
        "ok": "true",
        "off": "false",
        "count": "3",
        "ratio": "0.25",
        "amount": "12.50",
        "day": "2024-02-29",
        "at": "2024-02-29T08:30:00+00:00",
        "id": "12345678-1234-5678-1234-567812345678",
        "channel": "email",
    }


def test_render_shapes() -> None:
    xml = render_xml({"a": None, "tags": ["x", "y"], "none": [], "flag": True}).decode()
    assert '<a nil="true"/>' in xml
    assert "<tags><item>x</item><item>y</item></tags>" in xml
    assert '<none type="array"/>' in xml
    assert "<flag>true</flag>" in xml
    assert render_xml([1, 2], root="list").endswith(b"<list><item>1</item><item>2</item></list>")
    assert render_xml("hi").endswith(b"<response>hi</response>")


def test_render_sanitises_names_and_text() -> None:
    xml = render_xml(
        {
            "1st": "a",
            "has space": "b",
            "ns:key": "c",
            "": "d",
            "ok-名字.x": "e",
            "ctl": "bell\x07 nul\x00",
        }
    )
    text = xml.decode()
    for fragment in (
        "<_1st>a</_1st>",
        "<has_space>b</has_space>",
        "<ns_key>c</ns_key>",
        "<_>d</_>",
        "<ok-名字.x>e</ok-名字.x>",
        "<ctl>bell\ufffd nul\ufffd</ctl>",
    ):
        assert fragment in text
    assert parse_xml(xml)["ctl"] == "bell\ufffd nul\ufffd"


def test_attributes_round_trip() -> None:
    data = {"amount": {"@currency": "CNY", "#text": "12.50"}}
    assert parse_xml(render_xml(data)) == data


# --- parsing -----------------------------------------------------------------------------


def test_parse_client_document() -> None:
    body = b"""<?xml version="1.0"?>
    <request xmlns="urn:example" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
      <!-- pretty-printed, as clients send it -->
      <name>  Li Na  </name>
      <phone/>
      <email xsi:nil="true"/>
      <tag>a</tag>
      <tag>b</tag>
      <items>
        <item><sku>A</sku></item>
      </items>
      <memo><![CDATA[<b>not markup</b>]]></memo>
    </request>
    """
    assert parse_xml(body) == {
        "name": "  Li Na  ",
        "phone": "",
        "email": None,
        "tag": ["a", "b"],
        "items": [{"sku": "A"}],
        "memo": "<b>not markup</b>",
    }


def test_parse_empty_root_and_bad_roots() -> None:
    assert parse_xml(b"<request/>") == {}
    assert parse_xml(b"<request>\n</request>") == {}
    with pytest.raises(BadRequest, match="not text"):
        parse_xml(b"<request>hello</request>")
    with pytest.raises(BadRequest, match="named fields"):
        parse_xml(b"<request><item>1</item></request>")


def test_parse_gbk_document() -> None:
    body = '<?xml version="1.0" encoding="GBK"?>\n<xml><Content>你好，客服</Content></xml>'
    assert parse_xml(body.encode("gbk")) == {"Content": "你好，客服"}


def test_unknown_encoding_is_rejected() -> None:
    with pytest.raises(BadRequest, match="unsupported encoding"):
        parse_xml(b'<?xml version="1.0" encoding="x-nonsense"?><r><a>1</a></r>')


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<request><name>&lol9;</name></request>
"""


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(BILLION_LAUGHS, id="billion-laughs"),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
            b"<r><name>&xxe;</name></r>",
            id="external-entity",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x.dtd">'
            b"%p;]><r><a>1</a></r>",
            id="parameter-entity",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:9/x.dtd"><r><a>1</a></r>',
            id="external-dtd",
        ),
        pytest.param(b"<!DOCTYPE r><r><a>1</a></r>", id="empty-doctype"),
    ],
)
def test_dtds_and_entities_are_rejected(payload: bytes) -> None:
    with pytest.raises(BadRequest) as caught:
        parse_xml(payload)
    assert "not allowed" in caught.value.message
    assert caught.value.status_code == 400


def test_undeclared_entity_is_malformed() -> None:
    with pytest.raises(BadRequest, match=r"line 1, column \d+: undefined entity"):
        parse_xml(b"<r><a>&nbsp;</a></r>")


def test_malformed_xml_says_where() -> None:
    body = b"<request>\n  <name>Zhang</nmae>\n</request>"
    with pytest.raises(BadRequest) as caught:
        parse_xml(body)
    assert caught.value.message == "Malformed XML at line 2, column 16: mismatched tag"
    assert caught.value.details == {"line": 2, "column": 16, "reason": "mismatched tag"}


@pytest.mark.parametrize(
    ("body", "where"),
    [
        (b"", "line 1, column 1: no element found"),
        (b"not xml at all", "line 1, column 1: syntax error"),
        (b"<a>1</a><b>2</b>", "line 1, column 9: junk after document element"),
        (b"<r><a>1</a>", "line 1, column 12: no element found"),
    ],
)
def test_other_malformed_documents(body: bytes, where: str) -> None:
    with pytest.raises(BadRequest, match=where):
        parse_xml(body)


def test_nesting_depth_is_limited() -> None:
    def nested(depth: int) -> bytes:
        return b"<a>" * depth + b"x" + b"</a>" * depth

    assert parse_xml(nested(32))  # the root counts as one level
    with pytest.raises(BadRequest, match="deeper than 32"):
        parse_xml(nested(33))
    with pytest.raises(BadRequest, match="deeper than 3"):
        parse_xml(nested(4), max_depth=3)
    with pytest.raises(BadRequest, match="deeper than 32"):
        parse_xml(nested(100_000))


# --- content negotiation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, False),
        ("", False),
        ("*/*", False),
        ("application/json", False),
        ("application/xml", True),
        ("text/xml", True),
        ("Application/XML; charset=utf-8", True),
        ("application/xml, application/json", False),  # a tie: JSON is the default
        ("application/json, application/xml", False),
        ("application/json;q=0.5, application/xml", True),
        ("application/xml;q=0.9, application/json", False),
        ("text/xml;q=0.8, application/json;q=0.7", True),
        ("application/xml, */*", True),  # named beats wildcard at equal q
        ("application/xml;q=0.5, */*", False),
        ("application/*", False),
        ("text/*", True),
        ("application/xml;q=0", False),
        ("application/json;q=0, */*", True),
        ("application/xml;q=bogus, application/json;q=0.1", False),
        ("application/xml;q=2", False),
        # a browser navigating to the API: application/xml;q=0.9 outranks */*;q=0.8
        (
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
            False,
        ),
        ("application/json, text/plain, */*", False),  # axios' default
    ],
)
def test_wants_xml(accept: str | None, expected: bool) -> None:
    assert wants_xml(accept) is expected
