"""The demo seed: its logins work against the app, it is idempotent, its data is plausible.

These tests seed a real SQLite file under a temporary data directory (as ``relaydesk demo``
does), so they run once, not per backend.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import phonenumbers
import pytest
from sqlalchemy import func, select

from relaydesk.app import create_app
from relaydesk.audit.models import AuditEntry
from relaydesk.audit.service import verify
from relaydesk.auth.models import User
from relaydesk.cli.serve import prepare_database
from relaydesk.config import Settings
from relaydesk.customers.models import Customer
from relaydesk.demo.seed import DEMO_LOGINS, DEMO_PASSWORD, DEMO_SLUG, seed_demo
from relaydesk.kit.db import Database
from relaydesk.tenancy.models import Department, Team, TeamMember, Tenant

EXPECTED_EMAILS = {
    "owner": "owner@demo.relaydesk.local",
    "admin": "admin@demo.relaydesk.local",
    "supervisor": "supervisor@demo.relaydesk.local",
    "agent": "agent@demo.relaydesk.local",
    "read-only": "readonly@demo.relaydesk.local",
}


@pytest.fixture
def demo_settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "var")


@pytest.fixture
async def seeded(demo_settings: Settings) -> list[str]:
    await prepare_database(demo_settings)
    return await seed_demo(demo_settings)


@pytest.fixture
async def demo_db(demo_settings: Settings, seeded: list[str]) -> AsyncIterator[Database]:
    """The seeded SQLite file itself (not the suite's rolled-back ``db``)."""
    database = Database.from_url(demo_settings.database_url)
    yield database
    await database.dispose()


async def _counts(db: Database) -> dict[str, int]:
    out = {}
    async with db.job(system=True) as session:
        for model in (Tenant, Department, Team, TeamMember, User, Customer, AuditEntry):
            out[model.__name__] = (
                await session.execute(select(func.count()).select_from(model))
            ).scalar_one()
    return out


# ---- independent checks (not the seed's own helpers) ----------------------------------------


def gb11643_valid(number: str) -> bool:
    """ISO 7064 MOD 11-2 as the standard states it: weights are 2^(17-i) mod 11."""
    if not re.fullmatch(r"[0-9]{17}[0-9X]", number):
        return False
    total = sum(int(d) * (2 ** (17 - i) % 11) for i, d in enumerate(number[:17]))
    check = (12 - total % 11) % 11
    return number[17] == ("X" if check == 10 else str(check))


def luhn_valid(number: str) -> bool:
    digits = [int(d) for d in number]
    odd = digits[-1::-2]
    even = [sum(divmod(2 * d, 10)) for d in digits[-2::-2]]
    return (sum(odd) + sum(even)) % 10 == 0


def test_checkers_reject_wrong_numbers() -> None:
    assert gb11643_valid("11010519491231002X")  # the example of GB 11643-1999
    assert not gb11643_valid("110105194912310021")
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")


# ---- the logins -----------------------------------------------------------------------------


async def test_banner_lists_every_login_with_its_role(seeded: list[str]) -> None:
    text = "\n".join(seeded)
    assert "/api/v1/auth/login" in text
    assert "/api/v1/docs" in text
    assert all(len(line) <= 80 for line in seeded)  # no wrapping in an 80-column terminal
    for role, email in EXPECTED_EMAILS.items():
        row = next(line for line in seeded if email in line)
        assert row.split() == [DEMO_SLUG, email, DEMO_PASSWORD, role]


async def test_every_demo_login_signs_in_with_its_role(
    demo_settings: Settings, seeded: list[str]
) -> None:
    app = create_app(demo_settings)  # builds its own Database from the settings
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            for login in DEMO_LOGINS:
                r = await client.post(
                    "/api/v1/auth/login",
                    json={"tenant": "demo", "email": login.email, "password": DEMO_PASSWORD},
                )
                assert r.status_code == 200, (login.role, r.text)
                headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
                me = await client.get("/api/v1/auth/me", headers=headers)
                assert me.status_code == 200, me.text
                body = me.json()
                assert body["tenant"] == "demo"
                assert body["label"] == EXPECTED_EMAILS[login.role]
                perms = set(body["permissions"])
                if login.role == "owner":
                    assert perms == {"*"}
                elif login.role == "agent":
                    assert "customers.read" in perms
                    assert "customers.pii.view" not in perms
                    assert "customers.pii.reveal" not in perms
                elif login.role == "read-only":
                    assert "customers.write" not in perms
                    assert "audit.read" not in perms
            wrong = await client.post(
                "/api/v1/auth/login",
                json={"tenant": "demo", "email": EXPECTED_EMAILS["agent"], "password": "nope"},
            )
            assert wrong.status_code == 401
    finally:
        await app.state.db.dispose()


async def _signed_in(client: httpx.AsyncClient, role: str) -> dict[str, str]:
    r = await client.post(
        "/api/v1/auth/login",
        json={"tenant": "demo", "email": EXPECTED_EMAILS[role], "password": DEMO_PASSWORD},
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def test_demo_customers_through_the_api_masked_for_the_agent(
    demo_settings: Settings, seeded: list[str]
) -> None:
    app = create_app(demo_settings)
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50001))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as client:
            agent = await _signed_in(client, "agent")
            page = await client.get("/api/v1/customers", headers=agent)
            assert page.status_code == 200, page.text
            items = page.json()["items"]
            assert len(items) == 31  # the 30 demo customers and one web visitor
            assert all(c["masked"] for c in items)
            items = [c for c in items if c["name"] != "网页访客"]  # the visitor has no ID number
            assert len(items) == 30
            for c in items:
                assert re.fullmatch(r"\+86[0-9]{3}\*{4}[0-9]{4}", c["phone"]), c["phone"]
                assert re.fullmatch(r"[0-9]{3}\*{11}[0-9X]{4}", c["id_number"]), c["id_number"]

            owner = await _signed_in(client, "owner")
            clear = (await client.get("/api/v1/customers", headers=owner)).json()["items"]
            phones = [c["phone"] for c in clear]
            some = next(c for c in clear if phones.count(c["phone"]) == 1)  # not the visitor's
            assert some["masked"] is False
            # an agent finds a customer by the number as a caller would say it
            local = some["phone"].removeprefix("+86")
            found = await client.get("/api/v1/customers", params={"phone": local}, headers=agent)
            assert found.status_code == 200, found.text
            assert [c["id"] for c in found.json()["items"]] == [some["id"]]
    finally:
        await app.state.db.dispose()


# ---- idempotence ----------------------------------------------------------------------------


async def test_seeding_twice_changes_nothing(
    demo_settings: Settings, seeded: list[str], demo_db: Database
) -> None:
    before = await _counts(demo_db)
    assert before["Tenant"] == 1
    assert before["User"] == len(EXPECTED_EMAILS)
    assert before["Customer"] == 31  # the 30 demo customers and one web visitor
    assert before["Department"] == 2

    again = await seed_demo(demo_settings)

    assert again == seeded
    assert await _counts(demo_db) == before
    async with demo_db.job(system=True) as session:
        tenant = (await session.execute(select(Tenant))).scalar_one()
        result = await verify(session, tenant.id)
    assert result.ok, result.problems
    assert result.checked == before["AuditEntry"]


async def test_seed_needs_a_migrated_database(tmp_path: Path) -> None:
    """Seeding an unmigrated database fails loudly (``relaydesk demo`` migrates first)."""
    settings = Settings(data_dir=tmp_path)
    with pytest.raises(Exception, match="no such table"):
        await seed_demo(settings)


# ---- the data -------------------------------------------------------------------------------


async def test_departments_team_and_agent_placement(demo_db: Database) -> None:
    async with demo_db.job(system=True) as session:
        departments = {
            d.name: d.id for d in (await session.execute(select(Department))).scalars()
        }
        assert set(departments) == {"售后服务部", "售前咨询部"}
        users = {u.email: u for u in (await session.execute(select(User))).scalars()}
        assert users[EXPECTED_EMAILS["agent"]].department_id == departments["售后服务部"]
        team = (await session.execute(select(Team))).scalar_one()
        members = set(
            (await session.execute(select(TeamMember.user_id))).scalars()
        )
    assert team.department_id == departments["售后服务部"]
    assert users[EXPECTED_EMAILS["agent"]].id in members


async def test_customers_carry_valid_chinese_personal_data(demo_db: Database) -> None:
    async with demo_db.job(system=True) as session:
        customers = (await session.execute(select(Customer))).scalars().all()
    customers = [c for c in customers if c.name != "网页访客"]  # the demo's web visitor
    assert len(customers) == 30
    assert len({c.phone for c in customers}) == 30
    for c in customers:
        assert re.fullmatch(r"[\u4e00-\u9fff]{2,3}", c.name), c.name
        # stored as the API stores phones: E.164
        assert c.phone is not None and re.fullmatch(r"\+861[3-9][0-9]{9}", c.phone), c.phone
        parsed = phonenumbers.parse(c.phone)
        assert phonenumbers.is_valid_number(parsed), c.phone
        assert phonenumbers.number_type(parsed) == phonenumbers.PhoneNumberType.MOBILE, c.phone

        assert c.id_number is not None and gb11643_valid(c.id_number), c.id_number
        born = dt.datetime.strptime(c.id_number[6:14], "%Y%m%d").date()
        assert dt.date(1940, 1, 1) < born < dt.date(2008, 1, 1)

        assert c.bank_card is not None and c.bank_card.isdigit()
        assert len(c.bank_card) in (16, 19) and luhn_valid(c.bank_card), c.bank_card

        assert c.email is not None
        assert re.fullmatch(r"[a-z.]+[0-9]+@example\.(com|net|org)", c.email), c.email
        assert c.address is not None
        assert re.match(r"^(北京市|上海市|重庆市|[\u4e00-\u9fff]{2,3}省)", c.address), c.address
        assert c.address.endswith("室")
