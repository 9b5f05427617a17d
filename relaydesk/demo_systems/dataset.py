"""The customers of 云栖优选 (Yunqi Select), shared by every demo system.

One list of 40 people, the same on every call (fixed random seed): the first 30 are exactly
the customers that ``relaydesk demo`` seeds into Relaydesk (:func:`relaydesk.demo.seed.
demo_customers`), so an agent who opens one of them finds the same mobile number in the order
system, the CRM, the membership database, the ticket system and the finance service; the last
10 are known to the company's systems but not (yet) to Relaydesk, as happens when a customer
calls for the first time.

Each system knows a person under its own identifier (CRM contact id, order-system buyer id,
member id); only the mobile number is common to all of them.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
import re
from dataclasses import dataclass
from typing import Any

from relaydesk.demo.seed import demo_customers, gb11643_check_char

__all__ = [
    "ANCHOR",
    "COMPANY",
    "COMPANY_TAX_NO",
    "MOBILE_RE",
    "TIER_LABELS",
    "Person",
    "fmt_time",
    "is_valid_id_number",
    "is_valid_uscc",
    "people",
    "person_by_mobile",
    "uscc",
]

#: "now" of the seeded data (Asia/Shanghai wall-clock time, stored naive as these systems do)
ANCHOR = dt.datetime(2026, 11, 20, 20, 0, 0)
COMPANY = "杭州云栖优选电子商务有限公司"
RELAYDESK_CUSTOMERS = 30
TOTAL = 40
MOBILE_RE = re.compile(r"^1[3-9][0-9]{9}$")

#: member tier code -> the label the CRM shows (and Relaydesk's seed stores with 会员 appended)
TIER_LABELS = {"normal": "普通", "silver": "银卡", "gold": "金卡", "diamond": "钻石"}
_TIER_FROM_SEED = {f"{label}会员": code for code, label in TIER_LABELS.items()}

_EXTRA_PEOPLE = (
    ("蒋丽华", "jiang.lihua", "F"),
    ("沈志明", "shen.zhiming", "M"),
    ("韦佳", "wei.jia", "F"),
    ("邓超然", "deng.chaoran", "M"),
    ("许晓燕", "xu.xiaoyan", "F"),
    ("傅明", "fu.ming", "M"),
    ("彭丽", "peng.li", "F"),
    ("吕国栋", "lv.guodong", "M"),
    ("苏婉清", "su.wanqing", "F"),
    ("卢建平", "lu.jianping", "M"),
)
_EXTRA_PLACES = (
    ("120101", "天津市", "天津市", "和平区", ("南京路", "滨江道")),
    ("320508", "江苏省", "苏州市", "姑苏区", ("人民路", "干将西路")),
    ("350203", "福建省", "厦门市", "思明区", ("湖滨南路", "厦禾路")),
    ("430104", "湖南省", "长沙市", "岳麓区", ("麓山南路", "桐梓坡路")),
    ("370202", "山东省", "青岛市", "市南区", ("香港中路", "东海西路")),
    ("410105", "河南省", "郑州市", "金水区", ("花园路", "经三路")),
)
_MOBILE_PREFIXES = ("135", "138", "139", "150", "158", "186", "177", "189", "199", "131")
_SOURCES = ("天猫旗舰店", "京东自营", "微信小程序", "官网商城", "抖音小店")
_ADDRESS_RE = re.compile(
    r"^(?P<province>[^省市]+省|北京市|上海市|天津市|重庆市)(?P<city>[^市]+市)?"
    r"(?P<district>[^区]+区)(?P<detail>.+)$"
)

# GB 32100-2015: the 31 characters of a unified social credit code and the weights of 1..17
_USCC_CHARS = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
# GB 11714-1997: the organisation code inside it (8 characters and a check character)
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


@dataclass(frozen=True)
class Person:
    index: int
    name: str
    gender: str  # "M" | "F"
    mobile: str  # 11 digits, no +86: how these systems store it
    email: str
    id_number: str
    province: str
    city: str
    district: str
    detail: str  # street, number, building, unit, room
    company: str | None
    tier: str  # normal | silver | gold | diamond
    tags: tuple[str, ...]
    source: str
    in_relaydesk: bool
    crm_id: str
    buyer_id: int
    member_id: str

    @property
    def address(self) -> str:
        city = "" if self.city == self.province else self.city
        return f"{self.province}{city}{self.district}{self.detail}"

    @property
    def birthday(self) -> dt.date:
        return dt.datetime.strptime(self.id_number[6:14], "%Y%m%d").date()


def fmt_time(value: dt.datetime | None) -> str | None:
    """The wall-clock format every one of these systems uses: ``2026-11-18 10:22:00``."""
    return None if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _org_code_check(body: str) -> str:
    total = sum(int(c, 36) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True))
    check = 11 - total % 11
    return "X" if check == 10 else "0" if check == 11 else str(check)


def _uscc_check(first17: str) -> str:
    total = sum(_USCC_CHARS.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return _USCC_CHARS[(31 - total % 31) % 31]


def uscc(area: str, seed: int) -> str:
    """A unified social credit code (统一社会信用代码) of an enterprise in ``area`` (GB/T 2260).

    ``9`` (registered by the market regulator) ``1`` (enterprise), the area, a GB 11714
    organisation code with its check character, and the GB 32100 check character.
    """
    rng = random.Random(seed)  # noqa: S311 -- demo data
    body = "".join(rng.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(8))
    first17 = f"91{area}{body}{_org_code_check(body)}"
    return first17 + _uscc_check(first17)


def is_valid_uscc(code: str) -> bool:
    if len(code) != 18 or any(c not in _USCC_CHARS for c in code):
        return False
    return _uscc_check(code[:17]) == code[17]


def is_valid_id_number(value: str) -> bool:
    """GB 11643-1999: 17 digits, a valid birth date, and the ISO 7064 MOD 11-2 check char."""
    if not re.fullmatch(r"[0-9]{17}[0-9X]", value):
        return False
    try:
        dt.datetime.strptime(value[6:14], "%Y%m%d")
    except ValueError:
        return False
    return gb11643_check_char(value[:17]) == value[17]


COMPANY_TAX_NO = uscc("330110", 1)  # 杭州市余杭区


def _split_address(address: str) -> tuple[str, str, str, str]:
    match = _ADDRESS_RE.match(address)
    if match is None:  # pragma: no cover - guarded by the dataset test
        raise ValueError(f"cannot split the demo address {address!r}")
    province = match["province"]
    return province, match["city"] or province, match["district"], match["detail"]


def _identifiers(index: int) -> dict[str, Any]:
    """Each system's own identifier of the person (they have nothing in common)."""
    return {
        "crm_id": f"C{10001 + index * 13:06d}",
        "buyer_id": 880_000_000 + index * 7_919,
        "member_id": f"M{20_180_000 + index * 211:08d}",
    }


def _from_relaydesk(index: int, fields: dict[str, object]) -> Person:
    attributes = fields["attributes"]
    assert isinstance(attributes, dict)
    id_number = str(fields["id_number"])
    province, city, district, detail = _split_address(str(fields["address"]))
    tags = fields["tags"]
    assert isinstance(tags, list)
    company = fields["company"]
    return Person(
        index=index,
        name=str(fields["name"]),
        gender="M" if int(id_number[16]) % 2 else "F",
        mobile=str(fields["phone"]),
        email=str(fields["email"]),
        id_number=id_number,
        province=province,
        city=city,
        district=district,
        detail=detail,
        company=None if company is None else str(company),
        tier=_TIER_FROM_SEED[str(attributes["member_tier"])],
        tags=tuple(str(t) for t in tags),
        source=str(attributes["source"]),
        in_relaydesk=True,
        **_identifiers(index),
    )


def _extra(index: int, rng: random.Random, used: set[str]) -> Person:
    name, pinyin, gender = _EXTRA_PEOPLE[index - RELAYDESK_CUSTOMERS]
    area, province, city, district, streets = rng.choice(_EXTRA_PLACES)
    mobile = ""
    while not mobile or mobile in used:
        mobile = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
    used.add(mobile)
    born = dt.date(1970, 1, 1) + dt.timedelta(days=rng.randrange(365 * 35))
    order = rng.randrange(500) * 2 + (1 if gender == "M" else 0)
    first17 = f"{area}{born:%Y%m%d}{order:03d}"
    detail = (
        f"{rng.choice(streets)}{rng.randrange(1, 300)}号{rng.randrange(1, 30)}栋"
        f"{rng.randrange(1, 4)}单元{rng.randrange(101, 2600)}室"
    )
    return Person(
        index=index,
        name=name,
        gender=gender,
        mobile=mobile,
        email=f"{pinyin}{rng.randrange(1, 99)}@example.org",
        id_number=first17 + gb11643_check_char(first17),
        province=province,
        city=city,
        district=district,
        detail=detail,
        company=None,
        tier=rng.choice(("normal", "normal", "silver", "gold")),
        tags=(),
        source=rng.choice(_SOURCES),
        in_relaydesk=False,
        **_identifiers(index),
    )


@functools.cache
def people() -> tuple[Person, ...]:
    """All 40 people, in a fixed order (``Person.index``)."""
    out = [
        _from_relaydesk(i, fields) for i, fields in enumerate(demo_customers(RELAYDESK_CUSTOMERS))
    ]
    used = {p.mobile for p in out}
    rng = random.Random(20_261_120)  # noqa: S311 -- demo data
    out += [_extra(i, rng, used) for i in range(RELAYDESK_CUSTOMERS, TOTAL)]
    return tuple(out)


@functools.cache
def _by_mobile() -> dict[str, Person]:
    return {p.mobile: p for p in people()}


def person_by_mobile(mobile: str) -> Person | None:
    return _by_mobile().get(mobile)
