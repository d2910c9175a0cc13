"""Demo data: one enterprise with people, departments, roles and a few hundred records.

Loaded by `crmfeed serve` on an empty embedded database and by `crmfeed demo`. Everything is
derived from a fixed seed, so two loads give the same people, records and ids. Every demo user
has the same password, `DEMO_PASSWORD`; the logins are printed by the CLI.

    demo = await load_demo(session_factory, settings)  # into an empty, migrated database
    print(demo.logins[0].email, demo.password)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from crmfeed.ids import Kind, to_global
from crmfeed.registry.confirmation import NodeState
from crmfeed.registry.enums import (
    DataAccess,
    FollowUpAccess,
    FunctionRole,
    LifeStatus,
    ObjectType,
    TeamRole,
)
from crmfeed.registry.feed import FeedItemType
from crmfeed.registry.transitions import find as find_transition
from crmfeed.security import hash_password
from resolvers import notify
from store import confirmation, feed, org, records, sharing
from store.confirmation_tables import ConfirmationNode
from store.feed_tables import FeedLike
from store.record_page_tables import MailTemplate, PrintTemplate
from store.viewer import Viewer

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    from crmfeed.settings import Settings
    from store.models import Record

ENTERPRISE_NAME = "Demo Trading Co."
DEMO_PASSWORD = "demo-pass-123"
EMAIL_DOMAIN = "demo.example"
SEED = 20261102
ANCHOR = date(2026, 11, 2)  # "today" for the demo's dates, fixed so loads are repeatable

R = FunctionRole
O = ObjectType  # noqa: E741


@dataclass(frozen=True, slots=True)
class Person:
    key: str
    name: str
    position: str
    department: str
    superior: str | None
    roles: tuple[FunctionRole, ...]

    @property
    def email(self) -> str:
        return f"{self.name.lower().replace(' ', '.')}@{EMAIL_DOMAIN}"


@dataclass(frozen=True, slots=True)
class DepartmentPlan:
    key: str
    name: str
    parent: str | None
    head: str | None


DEPARTMENTS: tuple[DepartmentPlan, ...] = (
    DepartmentPlan("company", ENTERPRISE_NAME, None, "ceo"),
    DepartmentPlan("sales", "Sales", "company", "ceo"),
    DepartmentPlan("east", "Sales East", "sales", "east"),
    DepartmentPlan("west", "Sales West", "sales", "west"),
    DepartmentPlan("north", "Sales North", "sales", "north"),
    DepartmentPlan("finance", "Finance", "company", "finance"),
    DepartmentPlan("operations", "Operations", "company", "orders"),
)

REGIONS = ("east", "west", "north")
SALESPEOPLE: dict[str, tuple[str, ...]] = {
    "east": ("Ava Thompson", "Noah Williams", "Mia Johnson", "Lucas Brown"),
    "west": ("Emma Garcia", "Ethan Martinez", "Sofia Lopez", "Mason Lee"),
    "north": ("Isabella Walker", "James Hall", "Chloe Young", "Benjamin King"),
}

PEOPLE: tuple[Person, ...] = (
    Person("ceo", "Helen Park", "Chief executive", "company", None, (R.SALES,)),
    Person("admin", "Sam Rivera", "CRM administrator", "operations", "ceo", (R.CRM_ADMIN, R.SALES)),
    Person("orders", "Olivia Brown", "Order administrator", "operations", "ceo", (R.ORDER_ADMIN,)),
    Person(
        "finance",
        "Nora Kim",
        "Finance manager",
        "finance",
        "ceo",
        (R.PAYMENT_FINANCE, R.REFUND_FINANCE, R.INVOICE_FINANCE),
    ),
    Person(
        "order_finance", "Ivan Petrov", "Order finance", "finance", "finance", (R.ORDER_FINANCE,)
    ),
    Person("east", "Liam Carter", "Sales manager, East", "east", "ceo", (R.SALES,)),
    Person("west", "Maya Singh", "Sales manager, West", "west", "ceo", (R.SALES,)),
    Person("north", "Omar Haddad", "Sales manager, North", "north", "ceo", (R.SALES,)),
    *(
        Person(f"{region}{n}", name, f"Salesperson, {region.title()}", region, region, (R.SALES,))
        for region in REGIONS
        for n, name in enumerate(SALESPEOPLE[region], start=1)
    ),
)

COMPANY_FIRST = (
    "Northwind", "Bluebird", "Summit", "Riverside", "Granite", "Harbor", "Silverline", "Cedar",
    "Apex", "Lakeshore", "Ironwood", "Meridian", "Oakridge", "Pioneer", "Redstone", "Sunrise",
)  # fmt: skip
COMPANY_SECOND = (
    "Traders", "Logistics", "Foods", "Systems", "Medical", "Retail", "Motors", "Textiles",
    "Electronics", "Supplies", "Pharma", "Builders",
)  # fmt: skip
INDUSTRY_BY_SECOND = {
    "Traders": "RETAIL", "Logistics": "OTHER", "Foods": "RETAIL", "Systems": "SOFTWARE",
    "Medical": "HEALTHCARE", "Retail": "RETAIL", "Motors": "MANUFACTURING",
    "Textiles": "MANUFACTURING", "Electronics": "MANUFACTURING", "Supplies": "OTHER",
    "Pharma": "HEALTHCARE", "Builders": "MANUFACTURING",
}  # fmt: skip
STAGES = ("QUALIFICATION", "NEEDS_ANALYSIS", "PROPOSAL", "NEGOTIATION", "CLOSING")
CITIES = ("Boston", "Denver", "Seattle", "Austin", "Chicago", "Portland", "Atlanta", "Phoenix")
FIRST_NAMES = (
    "Anna", "Ben", "Carla", "David", "Elena", "Frank", "Grace", "Hugo", "Iris", "Jack", "Kate",
    "Leo", "Nina", "Oscar", "Paula", "Quinn", "Rosa", "Tom", "Vera", "Will",
)  # fmt: skip
LAST_NAMES = (
    "Adams", "Baker", "Clark", "Davis", "Evans", "Fisher", "Green", "Hughes", "Irwin", "Jones",
    "Kelly", "Lewis", "Morgan", "Nolan", "Owens", "Price", "Reed", "Stone", "Turner", "Wright",
)  # fmt: skip
TITLES = ("Purchasing manager", "CFO", "Operations lead", "IT director", "Buyer", "CEO")
PRODUCTS = (
    ("Standard pallet", "PAL-100", 45.0, "PIECE"),
    ("Shipping box, large", "BOX-L", 2.5, "BOX"),
    ("Shipping box, small", "BOX-S", 1.2, "BOX"),
    ("Cold-chain container", "CCC-20", 1850.0, "PIECE"),
    ("Inventory software licence", "INV-LIC", 990.0, "LICENSE"),
    ("Installation service", "SVC-INST", 120.0, "HOUR"),
    ("Barcode scanner", "SCN-2", 240.0, "PIECE"),
    ("Legacy label printer", "LBL-1", 310.0, "PIECE"),
)
COMPETITORS = ("FastFreight Inc.", "Globex Supply", "Initech Distribution")
CAMPAIGNS = (
    ("Spring trade fair", "EXHIBITION", "CLOSED", ["OFFLINE"]),
    ("Cold-chain webinar series", "WEBINAR", "IN_PROGRESS", ["ONLINE"]),
    ("Partner newsletter", "EMAIL", "PLANNED", ["ONLINE", "PARTNER"]),
)


PEOPLE_BY_KEY = {person.key: person for person in PEOPLE}
DEMO_PRINT_TEMPLATE = "Account summary"
ACCOUNT_SUMMARY = """\
<h1>{{ record.name }}</h1>
<p>{{ values.industry }} · level {{ values.level }} · owner {{ record.owner }}</p>
<p>Phone {{ values.phone }} · {{ values.email }} · {{ values.address }}</p>
<h2>Latest follow-up</h2>
<ul>
{% for item in activity[:5] %}
<li>{{ item.createdAt }}, {{ item.author }}: {{ item.content }}</li>
{% else %}
<li>None yet.</li>
{% endfor %}
</ul>
"""
DEMO_MAIL_TEMPLATE = "Follow-up after a call"
FOLLOW_UP_MAIL = """\
Dear {{ name }},

Thank you for your time today. As promised, I will send {{ company or "you" }} our quote this week.

Best regards,
{{ sender }}
"""
PENDING_CYCLE = ("CONFIRMING", "REJECTED", "CONFIRMING", "WITHDRAWN")
"""What becomes of the orders drawn as not yet confirmed, in turn: every status is shown."""
RETURN_STATUSES = ("CONFIRMING", "REJECTED", "WITHDRAWN", "CONFIRMED")
RETURN_CONFIRMER = "finance"
"""Nora Kim confirms Return Forms (the enterprise's default chain): she reads one only while it
waits for her."""
CONVERTER = "east1"
"""Ava Thompson: the demo names one of her Sales Leads as the lead to convert (CONVERT)."""
REJECTION = "Discount above the region's limit; please check with the customer."
FOLLOWED_UP = frozenset({ObjectType.ACCOUNT, ObjectType.CONTACT, ObjectType.OPPORTUNITY})
SALES_NOTES = (
    "Called {name}: they want a quote for the spring order by Friday.",
    "Visited {name} today. The buyer is happy with delivery times; pricing is the open point.",
    "{name} asked for a product demo for their new team. Booked for next week.",
    "Sent the revised proposal to {name}; waiting for their finance sign-off.",
    "{name} mentioned a competitor's offer. Need to discuss a discount with my manager.",
    "Shipment for {name} delayed two days; informed their purchasing contact.",
)
MANAGER_REPLIES = (
    "Good work. Keep me posted.",
    "Let's discuss the discount in our one-to-one.",
    "Please loop in after-sales before we commit.",
    "Nice, let's aim to close this quarter.",
)


@dataclass(frozen=True, slots=True)
class DemoLogin:
    name: str
    email: str
    position: str
    roles: tuple[FunctionRole, ...]


@dataclass(slots=True)
class DemoData:
    """What was loaded: the logins to print and how many records of each type."""

    enterprise_id: int
    password: str
    logins: list[DemoLogin]
    record_counts: dict[str, int] = field(default_factory=dict)
    feed_items: int = 0
    waiting: dict[str, list[str]] = field(default_factory=dict)
    """Confirmer name -> the names of the orders and return forms waiting for them."""
    lead_to_convert: tuple[str, str] | None = None
    """(who, lead name): a Sales Lead its owner may convert now (`CONVERT` is offered)."""

    @property
    def record_total(self) -> int:
        return sum(self.record_counts.values())


def demo_logins() -> list[DemoLogin]:
    """The demo's people, in reporting order (they exist once the demo is loaded)."""
    return [DemoLogin(p.name, p.email, p.position, p.roles) for p in PEOPLE]


def person(key: str) -> Person:
    return next(p for p in PEOPLE if p.key == key)


async def has_enterprises(session: AsyncSession) -> bool:
    """Whether the database holds any data at all (every row belongs to an enterprise)."""
    return await org.any_enterprise(session)


async def demo_is_loaded(session: AsyncSession) -> bool:
    return await org.get_user_by_email(session, PEOPLE[0].email) is not None


async def load_demo(
    session_factory: async_sessionmaker[AsyncSession], settings: Settings
) -> DemoData:
    """Load the demo in one transaction (all or nothing); the caller checks the DB is empty."""
    password_hash = await hash_password(settings, DEMO_PASSWORD)
    async with session_factory() as session:
        loader = _Loader(session, random.Random(SEED))
        data = await loader.load(password_hash)
        await session.commit()
    return data


def _gid(record: Record) -> str:
    return to_global(Kind.RECORD, record.id)


class _Loader:
    """Builds the demo step by step; `users` and `departments` map plan keys to database ids."""

    def __init__(self, session: AsyncSession, rng: random.Random) -> None:
        self.session = session
        self.rng = rng
        self.enterprise_id = 0
        self.users: dict[str, int] = {}
        self.departments: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self.account_names: set[str] = set()
        self.followed_up: list[tuple[Record, str]] = []
        self.leads: list[tuple[Record, str]] = []
        self.feed_items = 0
        self.pending_drawn = 0
        self.confirming_kept = 0
        self.confirmations: list[tuple[Record, str, tuple[str, ...], str, int]] = []
        """(record, owner, chain, status, nodes confirmed) of each order or return form."""

    async def load(self, password_hash: str) -> DemoData:
        enterprise = await org.create_enterprise(self.session, ENTERPRISE_NAME)
        self.enterprise_id = enterprise.id
        await self._organisation(password_hash)
        await self._settings()
        campaigns = await self._shared_records()
        for region in REGIONS:
            for n in range(1, len(SALESPEOPLE[region]) + 1):
                await self._salesperson_records(f"{region}{n}", region, campaigns)
        await self._follow_up_activity()
        await self._invalidate_some()
        await self._page_templates()
        await self._return_forms()
        await self._confirmations()
        return DemoData(
            enterprise_id=self.enterprise_id,
            password=DEMO_PASSWORD,
            logins=demo_logins(),
            record_counts=dict(sorted(self.counts.items())),
            feed_items=self.feed_items,
            waiting=self._waiting(),
            lead_to_convert=self._lead_to_convert(),
        )

    # -- record page actions: a print template and a mail template ---------------------------

    async def _page_templates(self) -> None:
        admin = self.users["admin"]
        self.session.add_all(
            [
                PrintTemplate(
                    enterprise_id=self.enterprise_id,
                    object_type=ObjectType.ACCOUNT.value,
                    name=DEMO_PRINT_TEMPLATE,
                    body=ACCOUNT_SUMMARY,
                    updated_by_id=admin,
                ),
                MailTemplate(
                    enterprise_id=self.enterprise_id,
                    name=DEMO_MAIL_TEMPLATE,
                    subject="Following up, {{ name }}",
                    body=FOLLOW_UP_MAIL,
                    updated_by_id=admin,
                ),
            ]
        )
        await self.session.flush()

    # -- people and settings ---------------------------------------------------------------------

    async def _organisation(self, password_hash: str) -> None:
        for plan in DEPARTMENTS:
            department = await org.create_department(
                self.session,
                enterprise_id=self.enterprise_id,
                name=plan.name,
                parent_id=self.departments.get(plan.parent) if plan.parent else None,
                head_id=None,
            )
            self.departments[plan.key] = department.id
        for someone in PEOPLE:  # PEOPLE lists every superior before their reports
            user = await org.create_user(
                self.session,
                enterprise_id=self.enterprise_id,
                name=someone.name,
                email=someone.email,
                password_hash=password_hash,
                department_id=self.departments[someone.department],
                superior_id=self.users[someone.superior] if someone.superior else None,
                roles=someone.roles,
            )
            self.users[someone.key] = user.id
        for plan in DEPARTMENTS:
            if plan.head is not None:
                department = await org.get_department(
                    self.session, self.enterprise_id, self.departments[plan.key]
                )
                assert department is not None
                await org.update_department(
                    self.session, department, {"head_id": self.users[plan.head]}
                )

    async def _settings(self) -> None:
        # After-sales people on an account's team do not see its follow-up activity (seed FAQ 6).
        await sharing.set_follow_up_access(
            self.session,
            self.enterprise_id,
            O.ACCOUNT.value,
            TeamRole.AFTER_SALES.value,
            FollowUpAccess.DISABLED.value,
        )
        # The product catalogue (owned by Operations) is readable by all of Sales.
        await sharing.create_rule(
            self.session,
            enterprise_id=self.enterprise_id,
            object_type=O.PRODUCT.value,
            from_user_id=None,
            from_department_id=self.departments["operations"],
            to_user_id=None,
            to_department_id=self.departments["sales"],
            access=DataAccess.READ_ONLY.value,
        )
        # Finance reads Sales East's opportunities to plan cash flow.
        await sharing.create_rule(
            self.session,
            enterprise_id=self.enterprise_id,
            object_type=O.OPPORTUNITY.value,
            from_user_id=None,
            from_department_id=self.departments["east"],
            to_user_id=None,
            to_department_id=self.departments["finance"],
            access=DataAccess.READ_ONLY.value,
        )

    # -- records ---------------------------------------------------------------------------------

    async def _record(
        self, object_type: ObjectType, name: str, status: str, owner: str, **values: Any
    ) -> Record:
        owner_id = self.users[owner]
        record = await records.insert_record(
            self.session,
            enterprise_id=self.enterprise_id,
            object_type=object_type.value,
            name=name,
            status=status,
            values={key: value for key, value in values.items() if value is not None},
            owner_id=owner_id,
            created_by_id=owner_id,
        )
        self.counts[object_type.value] = self.counts.get(object_type.value, 0) + 1
        if object_type in FOLLOWED_UP:
            self.followed_up.append((record, owner))
        return record

    async def _member(
        self, record: Record, who: str, team_role: TeamRole, access: DataAccess
    ) -> None:
        await records.put_team_member(
            self.session,
            enterprise_id=self.enterprise_id,
            record_id=record.id,
            user_id=self.users[who],
            team_role=team_role.value,
            access=access.value,
        )

    async def _shared_records(self) -> list[Record]:
        """Products (CRM admin), campaigns (sales managers) and competitors (the CEO)."""
        for name, code, price, unit in PRODUCTS:
            status = "OFF_SHELF" if name.startswith("Legacy") else "ON_SHELF"
            await self._record(
                O.PRODUCT,
                name,
                status,
                "admin",
                productCode=code,
                unitPrice=price,
                unit=unit,
                description=f"{name}, sold by the {unit.lower()}.",
            )
        campaigns = []
        for (name, kind, status, channels), manager in zip(CAMPAIGNS, REGIONS, strict=True):
            starts = ANCHOR + timedelta(days=self.rng.randint(-120, 60))
            campaigns.append(
                await self._record(
                    O.CAMPAIGN,
                    name,
                    status,
                    manager,
                    campaignType=kind,
                    startsOn=starts.isoformat(),
                    endsOn=(starts + timedelta(days=30)).isoformat(),
                    budget=float(self.rng.randrange(5_000, 50_000, 500)),
                    channels=channels,
                )
            )
        for name in COMPETITORS:
            slug = name.split()[0].lower()
            await self._record(
                O.COMPETITOR,
                name,
                "NORMAL",
                "ceo",
                website=f"https://www.{slug}.example",
                strengths="Low prices, large fleet.",
                weaknesses="Slow support, no cold chain.",
            )
        return campaigns

    def _account_name(self) -> str:
        while True:
            name = (
                f"{self.rng.choice(COMPANY_FIRST)} {self.rng.choice(COMPANY_SECOND)} "
                f"{self.rng.choice(CITIES)}"
            )
            if name not in self.account_names:
                self.account_names.add(name)
                return name

    def _person_name(self) -> str:
        return f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"

    def _day(self, low: int, high: int) -> str:
        return (ANCHOR + timedelta(days=self.rng.randint(low, high))).isoformat()

    def _phone(self) -> str:
        return f"+1 555 {self.rng.randint(100, 999)} {self.rng.randint(1000, 9999)}"

    def _colleague(self, key: str, region: str) -> str:
        others = [f"{region}{n}" for n in range(1, 5) if f"{region}{n}" != key]
        return self.rng.choice(others)

    async def _salesperson_records(self, key: str, region: str, campaigns: list[Record]) -> None:
        rng = self.rng
        manager = region
        for _ in range(6):
            account = await self._account(key)
            if rng.random() < 0.25:
                await self._member(account, "orders", TeamRole.AFTER_SALES, DataAccess.READ_ONLY)
            if rng.random() < 0.15:
                other_region = rng.choice([r for r in REGIONS if r != region])
                await self._member(
                    account,
                    f"{other_region}{rng.randint(1, 4)}",
                    TeamRole.REGULAR_MEMBER,
                    DataAccess.READ_ONLY,
                )
            for _ in range(rng.randint(1, 2)):
                await self._contact(key, account)
            if rng.random() < 0.4:
                await self._visit(key, account)
            if rng.random() < 0.7:
                opportunity = await self._opportunity(key, account)
                if rng.random() < 0.3:
                    await self._member(
                        opportunity,
                        self._colleague(key, region),
                        rng.choice([TeamRole.REGULAR_MEMBER, TeamRole.CO_FOLLOWER]),
                        rng.choice(list(DataAccess)),
                    )
                if opportunity.status in ("CLOSE_WON", "IN_PROGRESS") and rng.random() < 0.6:
                    await self._order(key, manager, account, opportunity)
        for _ in range(3):
            await self._lead(key, campaigns)

    async def _account(self, owner: str) -> Record:
        name = self._account_name()
        slug = name.split()[0].lower()
        number = sum(self.counts.values()) + 1
        status = self.rng.choices(["ASSIGNED", "REPORTING", "NOT_EFFECTIVE"], [8, 1, 1])[0]
        return await self._record(
            O.ACCOUNT,
            name,
            status,
            owner,
            accountNo=f"AC-{number:05d}",
            industry=INDUSTRY_BY_SECOND[name.split()[1]],
            level=self.rng.choice("ABC"),
            phone=self._phone(),
            email=f"info@{slug}.example",
            website=f"https://www.{slug}.example",
            address=f"{self.rng.randint(1, 999)} Market Street, {name.split()[-1]}",
            # as the transitions that lead to the status set it
            approvalStatus={"ASSIGNED": "APPROVED", "REPORTING": "IN_PROGRESS"}.get(status),
            inHighseas=False,
            annualRevenue=float(self.rng.randrange(200_000, 20_000_000, 10_000)),
        )

    async def _contact(self, owner: str, account: Record) -> Record:
        name = self._person_name()
        return await self._record(
            O.CONTACT,
            name,
            "NORMAL",
            owner,
            accountId=_gid(account),
            title=self.rng.choice(TITLES),
            mobile=self._phone(),
            email=f"{name.lower().replace(' ', '.')}@{account.name.split()[0].lower()}.example",
        )

    async def _visit(self, owner: str, account: Record) -> Record:
        day = ANCHOR + timedelta(days=self.rng.randint(-30, 30))
        planned = datetime.combine(day, time(self.rng.randint(9, 16)), tzinfo=UTC)
        return await self._record(
            O.VISIT,
            f"Visit to {account.name}",
            "COMPLETED" if day < ANCHOR else "INCOMPLETE",
            owner,
            accountId=_gid(account),
            plannedAt=planned.isoformat(),
            purpose=self.rng.choice(["Quarterly review", "Product demo", "Contract renewal"]),
        )

    async def _opportunity(self, owner: str, account: Record) -> Record:
        status = self.rng.choices(["IN_PROGRESS", "CLOSE_WON", "CLOSE_LOST"], [6, 3, 1])[0]
        stage = "CLOSING" if status != "IN_PROGRESS" else self.rng.choice(STAGES[:-1])
        return await self._record(
            O.OPPORTUNITY,
            f"{account.name} - {self.rng.choice(['renewal', 'expansion', 'new fleet', 'pilot'])}",
            status,
            owner,
            accountId=_gid(account),
            salesStage=stage,
            amount=float(self.rng.randrange(5_000, 250_000, 500)),
            expectedCloseDate=self._day(-20, 120),
            probability={"CLOSE_WON": 100, "CLOSE_LOST": 0}.get(
                status, 10 + 20 * STAGES.index(stage)
            ),
        )

    async def _order(self, owner: str, manager: str, account: Record, opportunity: Record) -> None:
        status = self.rng.choice(["CONFIRMING", "CONFIRMED", "SHIPPED", "RECEIVED"])
        confirmed = 2
        if status == "CONFIRMING":  # in turn waiting for the manager or the CEO, or sent back
            status = PENDING_CYCLE[self.pending_drawn % len(PENDING_CYCLE)]
            self.pending_drawn += 1
            confirmed = 0
            if status == "CONFIRMING":
                confirmed = self.confirming_kept % 2
                self.confirming_kept += 1
        chain = (manager, "ceo")
        waiting = chain[confirmed] if status == "CONFIRMING" else None
        amount = float(opportunity.values["amount"])
        order = await self._record(
            O.SALES_ORDER,
            f"SO-{sum(self.counts.values()) + 1:05d} {account.name}",
            status,
            owner,
            accountId=_gid(account),
            opportunityId=_gid(opportunity),
            orderDate=self._day(-60, 0),
            amount=amount,
            discount=self.rng.choice([0, 0, 5, 10]),
            currentConfirmerId=to_global(Kind.USER, self.users[waiting]) if waiting else None,
            firstConfirmerConfirmed=True if confirmed else None,
        )
        self.confirmations.append((order, owner, chain, status, confirmed))
        if status in ("SHIPPED", "RECEIVED"):
            await self._member(order, "orders", TeamRole.AFTER_SALES, DataAccess.READ_WRITE)
        if status in ("CONFIRMING", "REJECTED", "WITHDRAWN"):
            return
        await self._record(
            O.PAYMENT,
            f"Payment for {order.name.split()[0]}",
            "RECEIVED" if status == "RECEIVED" else "NOT_RECEIVED",
            owner,
            salesOrderId=_gid(order),
            amount=amount,
            paidOn=self._day(-30, 0) if status == "RECEIVED" else None,
            method=self.rng.choice(["TRANSFER", "CARD", "CHECK"]),
        )
        if status == "RECEIVED":
            await self._record(
                O.INVOICING_APPLICATION,
                f"Invoice for {order.name.split()[0]}",
                self.rng.choice(["UNBILLED", "INVOICED"]),
                owner,
                salesOrderId=_gid(order),
                amount=amount,
                invoiceType="NORMAL",
                taxNumber=f"TX-{self.rng.randint(100000, 999999)}",
            )

    async def _return_forms(self) -> None:
        """A return form in each of its statuses, for the first delivered orders, confirmed by
        the enterprise's default chain for Return Forms (Nora Kim)."""
        await confirmation.set_default_chain(
            self.session,
            self.enterprise_id,
            O.RETURN_FORM.value,
            [self.users[RETURN_CONFIRMER]],
        )
        delivered = [
            (order, owner)
            for order, owner, _, status, _ in self.confirmations
            if status in ("SHIPPED", "RECEIVED")
        ]
        for (order, owner), status in zip(delivered, RETURN_STATUSES, strict=False):
            confirmed = 1 if status == "CONFIRMED" else 0
            form = await self._record(
                O.RETURN_FORM,
                f"RF for {order.name.split()[0]}",
                status,
                owner,
                salesOrderId=_gid(order),
                reason="Two cartons arrived damaged.",
                amount=round(float(order.values["amount"]) * 0.1, 2),
                currentConfirmerId=(
                    to_global(Kind.USER, self.users[RETURN_CONFIRMER])
                    if status == "CONFIRMING"
                    else None
                ),
                firstConfirmerConfirmed=True if confirmed else None,
            )
            self.confirmations.append((form, owner, (RETURN_CONFIRMER,), status, confirmed))

    async def _confirmations(self) -> None:
        """Each order's and return form's confirmation nodes, as its status implies, and the
        SALES_PROCESS items and notifications its steps wrote: the confirmer it waits for was
        asked, the owner told of what others did."""
        for record, owner, chain, status, confirmed in self.confirmations:
            nodes = []
            for position, key in enumerate(chain, start=1):
                if position <= confirmed:
                    state = NodeState.CONFIRMED
                elif status == "CONFIRMING":
                    state = NodeState.CURRENT if position == confirmed + 1 else NodeState.WAITING
                elif position == 1 and status == "REJECTED":
                    state = NodeState.REJECTED
                elif status in ("REJECTED", "WITHDRAWN"):
                    state = NodeState.CANCELLED
                else:
                    state = NodeState.CONFIRMED
                decided = state in (NodeState.CONFIRMED, NodeState.REJECTED)
                nodes.append(
                    ConfirmationNode(
                        enterprise_id=self.enterprise_id,
                        record_id=record.id,
                        round=1,
                        position=position,
                        confirmer_id=self.users[key],
                        state=state.value,
                        submitted_by_id=self.users[owner],
                        submitted_at=record.created_at,
                        decided_by_id=self.users[key] if decided else None,
                        decided_at=record.created_at if decided else None,
                        comment=REJECTION if state is NodeState.REJECTED else None,
                    )
                )
            await confirmation.insert_nodes(self.session, nodes)
            steps = self._confirmation_steps(owner, chain, status, confirmed)
            for actor, content in steps:
                author = self._viewer(actor)
                item = await feed.insert_item(
                    self.session,
                    enterprise_id=self.enterprise_id,
                    type=FeedItemType.SALES_PROCESS.value,
                    author_id=author.id,
                    content=content,
                    account_id=None,
                    record_ids=[record.id],
                )
                self.feed_items += 1
                waiting = chain[confirmed] if status == "CONFIRMING" else None
                last = (actor, content) == steps[-1]
                asked = [self.users[waiting]] if waiting and last else []
                await notify.confirmation_step(
                    self.session,
                    author,
                    PEOPLE_BY_KEY[actor].name,
                    record,
                    item,
                    ask=asked,
                    tell=[],
                )

    def _waiting(self) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for record, _, chain, status, confirmed in self.confirmations:
            if status == "CONFIRMING":
                found.setdefault(PEOPLE_BY_KEY[chain[confirmed]].name, []).append(record.name)
        return dict(sorted(found.items()))

    @staticmethod
    def _confirmation_steps(
        owner: str, chain: tuple[str, ...], status: str, confirmed: int
    ) -> list[tuple[str, str]]:
        """(who acted, what the SALES_PROCESS item says) for each step the record went
        through, as `transitionRecord` writes them."""
        names = [PEOPLE_BY_KEY[key].name for key in chain]
        submitter = PEOPLE_BY_KEY[owner].name
        steps = [(owner, f"Submitted by {submitter} for confirmation to {', then '.join(names)}.")]
        of = len(chain)
        if status == "CONFIRMING" and confirmed:
            said = f"Confirmed by {names[0]} (1 of {of}); now waiting for {names[1]}."
            steps.append((chain[0], said))
        elif status == "REJECTED":
            said = (
                f"Rejected by {names[0]} (1 of {of}): Confirming → Rejected.\nReason: {REJECTION}"
            )
            steps.append((chain[0], said))
        elif status == "WITHDRAWN":
            steps.append((owner, f"Withdrawn by {submitter}: Confirming → Withdrawn."))
        elif status != "CONFIRMING":
            for position, name in enumerate(names, start=1):
                said = f"Confirmed by {name} ({position} of {of})"
                if position < of:
                    steps.append(
                        (chain[position - 1], f"{said}; now waiting for {names[position]}.")
                    )
                else:
                    steps.append((chain[position - 1], f"{said}: Confirming → Confirmed."))
        return steps

    def _lead_to_convert(self) -> tuple[str, str] | None:
        """CONVERTER's first valid Sales Lead in a status the conversion applies to."""
        convert = find_transition(O.SALES_LEAD, "CONVERT")
        assert convert is not None
        for lead, owner in self.leads:
            if (
                owner == CONVERTER
                and lead.life_status == LifeStatus.NORMAL.value
                and convert.rule.applies(lead.status, lead.values or {})
            ):
                return PEOPLE_BY_KEY[owner].name, lead.name
        return None

    async def _lead(self, owner: str, campaigns: list[Record]) -> Record:
        name = self._person_name()
        company = f"{self.rng.choice(COMPANY_FIRST)} {self.rng.choice(COMPANY_SECOND)}"
        source = self.rng.choice(["CAMPAIGN", "WEBSITE", "REFERRAL", "COLD_CALL"])
        lead = await self._record(
            O.SALES_LEAD,
            f"{name} ({company})",
            self.rng.choice(["TO_BE_PROCESSED", "FOLLOWING_UP"]),
            owner,
            company=company,
            source=source,
            mobile=self._phone(),
            email=f"{name.lower().replace(' ', '.')}@{company.split()[0].lower()}.example",
            campaignId=_gid(self.rng.choice(campaigns)) if source == "CAMPAIGN" else None,
        )
        self.leads.append((lead, owner))
        return lead

    # -- follow-up activity ------------------------------------------------------------------------

    def _viewer(self, key: str) -> Viewer:
        person = PEOPLE_BY_KEY[key]
        return Viewer(
            id=self.users[key],
            enterprise_id=self.enterprise_id,
            department_id=self.departments[person.department],
            roles=frozenset(person.roles),
        )

    async def _follow_up_activity(self) -> None:
        """Sales records on about half the accounts, contacts and opportunities, written by
        their owners; some @mention the manager, who replies; colleagues like them."""
        for record, owner in self.followed_up:
            if self.rng.random() < 0.5:
                continue
            author = self._viewer(owner)
            manager = PEOPLE_BY_KEY[owner].superior
            for _ in range(self.rng.randint(1, 3)):
                mentions = [self.users[manager]] if manager and self.rng.random() < 0.3 else []
                item = await feed.insert_item(
                    self.session,
                    enterprise_id=self.enterprise_id,
                    type=FeedItemType.SALES_RECORD.value,
                    author_id=author.id,
                    content=self.rng.choice(SALES_NOTES).format(name=record.name),
                    account_id=record.id if record.object_type == O.ACCOUNT.value else None,
                    record_ids=[record.id],
                    mentions=mentions,
                )
                self.feed_items += 1
                await notify.item_posted(
                    self.session, author, PEOPLE_BY_KEY[owner].name, item, mentions, []
                )
                if manager and self.rng.random() < 0.4:
                    boss = self._viewer(manager)
                    followers = await feed.followers(self.session, item.id)
                    content = self.rng.choice(MANAGER_REPLIES)
                    reply = await feed.insert_reply(
                        self.session, item=item, author_id=boss.id, content=content, mentions=[]
                    )
                    await notify.replied(
                        self.session,
                        boss,
                        PEOPLE_BY_KEY[manager].name,
                        item,
                        reply,
                        [],
                        followers,
                    )
                for liker in self.rng.sample(list(self.users.values()), self.rng.randint(0, 3)):
                    await feed.put_mark(self.session, FeedLike, self.enterprise_id, item.id, liker)

    async def _invalidate_some(self) -> None:
        """Two records sit in the recycle bin, as if their owners had invalidated them."""
        rows = await records.of_types(
            self.session, self.enterprise_id, [O.SALES_LEAD.value, O.OPPORTUNITY.value]
        )
        seen: set[str] = set()
        for record in rows:
            if record.object_type in seen:
                continue
            seen.add(record.object_type)
            record.status_before_invalid = record.status
            record.life_status = LifeStatus.INVALID.value
        await self.session.flush()
