"""The demo organisation: departments, a team, one login per built-in role, ~30 customers.

``relaydesk demo`` (and ``make demo``) call :func:`seed_demo` after migrating. Seeding is
idempotent: when the organisation ``demo`` exists nothing is written, and the same logins are
returned, so the banner is identical on every start.

The customers are fictional but realistic, so masking has something to do: Chinese names,
mainland mobile numbers, resident ID numbers with a valid GB 11643 check character, Luhn-valid
bank card numbers, addresses in Chinese cities. They are stored through the same validation
as ``POST /api/v1/customers`` (phones in E.164). E-mail addresses use the reserved
``example.*`` domains (RFC 2606) so that no demo message can reach a real mailbox.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit import service as audit
from relaydesk.audit.service import SYSTEM
from relaydesk.config import Settings
from relaydesk.customers.schemas import CustomerIn
from relaydesk.customers.service import CustomerService
from relaydesk.kit.db import Database, scope_session
from relaydesk.tenancy.models import Department, Team, TeamMember, Tenant
from relaydesk.tenancy.service import create_tenant, create_user

__all__ = [
    "DEMO_EMAIL_DOMAIN",
    "DEMO_LOGINS",
    "DEMO_PASSWORD",
    "DEMO_SLUG",
    "DemoLogin",
    "banner",
    "demo_customers",
    "seed_demo",
]

DEMO_SLUG = "demo"
DEMO_NAME = "演示电商 (Relaydesk demo)"
DEMO_EMAIL_DOMAIN = "demo.relaydesk.local"
#: the same for every demo login; long enough for the default password_min_length (10)
DEMO_PASSWORD = "relaydesk-demo"  # noqa: S105 -- published demo login, printed at start
AFTER_SALES = "售后服务部"
PRE_SALES = "售前咨询部"
TEAM_NAME = "售后一组"
CUSTOMER_COUNT = 30
#: fixed seed: every demo database holds the same customers
_RANDOM_SEED = 20_261_121


@dataclass(frozen=True)
class DemoLogin:
    role: str
    local_part: str
    display_name: str
    department: str | None = None

    @property
    def email(self) -> str:
        return f"{self.local_part}@{DEMO_EMAIL_DOMAIN}"


DEMO_LOGINS: tuple[DemoLogin, ...] = (
    DemoLogin("owner", "owner", "周立新 (owner)"),
    DemoLogin("admin", "admin", "陈思远 (admin)"),
    DemoLogin("supervisor", "supervisor", "林雅婷 (supervisor)", AFTER_SALES),
    DemoLogin("agent", "agent", "王小燕 (agent)", AFTER_SALES),
    DemoLogin("read-only", "readonly", "赵建华 (read-only)"),
)

# (name, pinyin for the e-mail, sex) -- common names, none of a well-known person
_PEOPLE: tuple[tuple[str, str, str], ...] = (
    ("张伟", "zhang.wei", "M"), ("王芳", "wang.fang", "F"), ("李娜", "li.na", "F"),
    ("刘洋", "liu.yang", "M"), ("陈静", "chen.jing", "F"), ("杨磊", "yang.lei", "M"),
    ("赵敏", "zhao.min", "F"), ("黄丽", "huang.li", "F"), ("周强", "zhou.qiang", "M"),
    ("吴霞", "wu.xia", "F"), ("徐涛", "xu.tao", "M"), ("孙秀英", "sun.xiuying", "F"),
    ("胡军", "hu.jun", "M"), ("朱琳", "zhu.lin", "F"), ("高峰", "gao.feng", "M"),
    ("林慧", "lin.hui", "F"), ("何勇", "he.yong", "M"), ("郭艳", "guo.yan", "F"),
    ("马俊", "ma.jun", "M"), ("罗丹", "luo.dan", "F"), ("梁宇", "liang.yu", "M"),
    ("宋雪", "song.xue", "F"), ("郑浩", "zheng.hao", "M"), ("谢婷", "xie.ting", "F"),
    ("韩冰", "han.bing", "F"), ("唐亮", "tang.liang", "M"), ("冯雪梅", "feng.xuemei", "F"),
    ("于洋", "yu.yang", "M"), ("董建国", "dong.jianguo", "M"), ("程欣", "cheng.xin", "F"),
    ("曹文", "cao.wen", "M"), ("袁芳", "yuan.fang", "F"),
)

# (GB/T 2260 code of a district, its address prefix, streets in it)
_PLACES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("110105", "北京市朝阳区", ("建国路", "朝阳北路", "望京街", "酒仙桥路")),
    ("110108", "北京市海淀区", ("中关村大街", "学院路", "知春路")),
    ("310104", "上海市徐汇区", ("漕溪北路", "天钥桥路", "虹桥路")),
    ("310115", "上海市浦东新区", ("世纪大道", "张杨路", "陆家嘴环路")),
    ("440106", "广东省广州市天河区", ("天河路", "体育西路", "珠江新城华夏路")),
    ("440305", "广东省深圳市南山区", ("科发路", "南海大道", "深南大道")),
    ("330106", "浙江省杭州市西湖区", ("文三路", "文一西路", "天目山路")),
    ("320102", "江苏省南京市玄武区", ("中山路", "珠江路", "北京东路")),
    ("510107", "四川省成都市武侯区", ("天府大道北段", "人民南路四段", "科华北路")),
    ("420106", "湖北省武汉市武昌区", ("中北路", "中南路", "武珞路")),
    ("610113", "陕西省西安市雁塔区", ("高新路", "小寨东路", "雁塔北路")),
    ("500103", "重庆市渝中区", ("民权路", "中山三路", "解放西路")),
)

# prefixes that are allocated to mainland mobile networks
_MOBILE_PREFIXES = (
    "134", "135", "136", "137", "138", "139", "150", "151", "152", "157", "158", "159",
    "182", "183", "187", "188", "130", "131", "132", "155", "156", "185", "186", "133",
    "153", "180", "181", "189", "177", "199",
)
# (issuer identification number, card length): 16 and 19 digit debit cards
_CARD_BINS = (("622202", 19), ("621700", 19), ("622848", 19), ("622588", 16), ("621661", 19))
_EMAIL_DOMAINS = ("example.com", "example.net", "example.org")
_COMPANIES = (
    "杭州云栈科技有限公司", "深圳市海岸线贸易有限公司", "成都锦程餐饮管理有限公司",
    "上海鼎远物流有限公司", "北京知行教育咨询有限公司",
)
_TIERS = ("普通会员", "银卡会员", "金卡会员", "钻石会员")
_CHANNELS = ("天猫旗舰店", "京东自营", "微信小程序", "官网商城", "抖音小店")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def gb11643_check_char(first17: str) -> str:
    """The check character of a mainland resident ID number (GB 11643-1999, ISO 7064 MOD 11-2)."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def luhn_check_digit(partial: str) -> str:
    """The digit that makes ``partial + digit`` pass the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(partial)):
        digit = int(ch)
        if i % 2 == 0:  # these positions are doubled once the check digit is appended
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def _id_number(rng: random.Random, area: str, sex: str) -> str:
    born = dt.date(1965, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 38))
    order = rng.randrange(0, 500) * 2 + (1 if sex == "M" else 0)  # odd: male, even: female
    first17 = f"{area}{born:%Y%m%d}{order:03d}"
    return first17 + gb11643_check_char(first17)


def _bank_card(rng: random.Random) -> str:
    bin_, length = rng.choice(_CARD_BINS)
    body = bin_ + "".join(str(rng.randrange(10)) for _ in range(length - len(bin_) - 1))
    return body + luhn_check_digit(body)


def _address(rng: random.Random, prefix: str, streets: tuple[str, ...]) -> str:
    street = rng.choice(streets)
    number = rng.randrange(1, 400)
    building, unit, room = rng.randrange(1, 20), rng.randrange(1, 5), rng.randrange(101, 2800)
    return f"{prefix}{street}{number}号{building}栋{unit}单元{room}室"


def demo_customers(count: int = CUSTOMER_COUNT) -> list[dict[str, object]]:
    """The demo customers' fields, the same on every call (fixed random seed)."""
    rng = random.Random(_RANDOM_SEED)  # noqa: S311 -- demo data, not a secret
    out: list[dict[str, object]] = []
    used_phones: set[str] = set()
    for i in range(count):
        name, pinyin, sex = _PEOPLE[i % len(_PEOPLE)]
        area, prefix, streets = rng.choice(_PLACES)
        phone = ""
        while not phone or phone in used_phones:
            phone = rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(0, 10**8):08d}"
        used_phones.add(phone)
        tags = ["VIP"] if rng.random() < 0.2 else []
        if rng.random() < 0.15:
            tags.append("投诉")
        out.append(
            {
                "name": name,
                "phone": phone,
                "email": f"{pinyin}{rng.randrange(1, 99)}@{rng.choice(_EMAIL_DOMAINS)}",
                "id_number": _id_number(rng, area, sex),
                "bank_card": _bank_card(rng),
                "address": _address(rng, prefix, streets),
                "company": rng.choice(_COMPANIES) if rng.random() < 0.25 else None,
                "tags": tags,
                "attributes": {
                    "member_tier": rng.choice(_TIERS),
                    "source": rng.choice(_CHANNELS),
                },
            }
        )
    return out


async def _create(session: AsyncSession, settings: Settings) -> None:
    tenant = await create_tenant(session, slug=DEMO_SLUG, name=DEMO_NAME)
    scope_session(session, tenant.id)
    after_sales = Department(tenant_id=tenant.id, name=AFTER_SALES)
    pre_sales = Department(tenant_id=tenant.id, name=PRE_SALES)
    session.add_all([after_sales, pre_sales])
    await session.flush()
    departments = {AFTER_SALES: after_sales.id, PRE_SALES: pre_sales.id}
    team = Team(
        tenant_id=tenant.id, name=TEAM_NAME, department_id=after_sales.id,
        description="After-sales agents: returns, refunds, delivery problems",
    )
    session.add(team)
    await session.flush()
    for login in DEMO_LOGINS:
        user = await create_user(
            session, email=login.email, display_name=login.display_name,
            password=DEMO_PASSWORD, role_names=(login.role,),
            department_id=departments[login.department] if login.department else None,
            min_password_length=settings.security.password_min_length,
        )
        if login.department == AFTER_SALES:
            session.add(TeamMember(tenant_id=tenant.id, team_id=team.id, user_id=user.id))
    # through the API's own validation and normalisation (E.164 phones, checksums)
    customers = CustomerService(session, SYSTEM)
    for fields in demo_customers():
        await customers.create(CustomerIn.model_validate(fields))
    from relaydesk.customers.demo import seed_customer_extras

    await seed_customer_extras(session)
    await audit.record(
        session, tenant_id=tenant.id, action="demo.seeded", actor=SYSTEM,
        target_type="tenant", target_id=tenant.id,
        details={"users": len(DEMO_LOGINS), "customers": CUSTOMER_COUNT},
    )


def banner() -> list[str]:
    """What ``relaydesk demo`` prints after the URL: how to sign in, and the logins.

    Every line fits in 80 columns (Rich wraps longer ones when stdout is not a terminal).
    """
    width = max(len(login.email) for login in DEMO_LOGINS) + 2
    lines = [
        f"Demo organisation: {DEMO_SLUG}  (every login below uses the password "
        f"{DEMO_PASSWORD})",
        "Sign in with POST /api/v1/auth/login and the JSON body",
        f'  {{"tenant": "{DEMO_SLUG}", "email": "<e-mail below>", "password": "{DEMO_PASSWORD}"}}',
        "API reference: /api/v1/docs   OpenAPI document: /api/v1/openapi.json",
        "",
        f"{'organisation':<14}{'e-mail':<{width}}{'password':<17}role",
    ]
    lines += [
        f"{DEMO_SLUG:<14}{login.email:<{width}}{DEMO_PASSWORD:<17}{login.role}"
        for login in DEMO_LOGINS
    ]
    return lines


async def seed_demo(settings: Settings, *, systems_base_port: int | None = None) -> list[str]:
    """Create the demo organisation unless it exists; return the lines to print.

    With ``systems_base_port``, the organisation's connector instances to the demo enterprise
    systems are created too (once), pointing at those ports.
    The database must already be migrated (``relaydesk demo`` does that first).
    """
    db = Database.from_url(settings.database_url)
    try:
        async with db.job(system=True) as session:
            found = await session.execute(select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
            if found.first() is None:
                await _create(session, settings)
        if systems_base_port is not None:
            from relaydesk.demo.connectors import seed_connectors

            await seed_connectors(db, settings, systems_base_port)
            from relaydesk.demo.sagas import seed_sagas

            await seed_sagas(db)
            from relaydesk.demo.panels import seed_panels

            await seed_panels(db, settings)
            from relaydesk.demo.routing import seed_priority_routing

            await seed_priority_routing(db)
            from relaydesk.channels.sms.demo import seed_sms_inbox
            from relaydesk.demo.rules import seed_rules
            from relaydesk.demo_systems.runner import PORT_OFFSETS

            gateway = f"http://127.0.0.1:{systems_base_port + PORT_OFFSETS['sms']}"
            await seed_sms_inbox(settings, gateway_url=gateway)
            from relaydesk.channels.voice.demo import seed_voice_inbox

            callcenter = f"http://127.0.0.1:{systems_base_port + PORT_OFFSETS['callcenter']}"
            await seed_voice_inbox(settings, callcenter_url=callcenter)
            async with db.job(system=True) as session:
                tenant_id = await session.scalar(select(Tenant.id).where(Tenant.slug == DEMO_SLUG))
                assert tenant_id is not None
                await seed_rules(session, tenant_id)
    finally:
        await db.dispose()
    return banner()
