"""A populated demo marketplace: provinces publish the sample modules, cities adopt and use them.

Everything goes through the areas' services (publish, review, install, metering
ingest, settlement); only the installations' dates are moved back to the start
of the demo so three months of history fit under their agreements.
"""
from __future__ import annotations

import random
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import sqlalchemy as sa
from flask import Flask

from marketplace.accounts import service as accounts
from marketplace.accounts.models import User
from marketplace.money import format_display
from marketplace.clock import local, now, period_bounds, period_of, previous_period

PASSWORD = "demo-password-2026"
ADMIN = ("admin@platform.gov.cn", "110000", "admin")
PUBLISHERS = {"440000": "publisher@gd.gov.cn", "330000": "publisher@zj.gov.cn",
              "310000": "publisher@sh.gov.cn"}
ADOPTERS = {"440300": "adopter@sz.gov.cn", "330100": "adopter@hz.gov.cn",
            "440100": "adopter@gz.gov.cn", "330200": "adopter@nb.gov.cn"}
# module → (publisher province, adopting cities, base daily units per city)
PLAN = {
    "enterprise-registration": ("440000", ["440300", "440100", "330100", "330200"], 420),
    "resident-id-verification": ("330000", ["440300", "440100", "330100", "330200"], 900),
    "medical-filing-cross-region": ("310000", ["440300", "330100", "330200"], 160),
    "social-insurance-transfer": ("440000", ["440100", "330100", "330200"], 60),
    "e-license-guangdong": ("440000", ["440300", "440100"], 300),
    "e-license-zhejiang": ("330000", ["330100", "330200"], 300),
    "housing-fund-withdrawal": ("310000", ["440300", "330100", "440100"], 200),
    # 跨省迁居一件事 calls the four above: published after them; 杭州市 (adopter@hz) has all four
    "cross-province-relocation": ("440000", ["330100"], 40),
}
CITY_SIZE = {"440300": 1.4, "440100": 1.2, "330100": 1.0, "330200": 0.7}
MONTHS = 3


@dataclass
class DemoSummary:
    """What the demo holds: logins and the settled periods."""

    logins: list[tuple[str, str, str]]
    settled: list[str]
    events: int
    reused: bool


def demo_periods() -> list[str]:
    """The last complete months by the platform clock, oldest first (e.g. 2026-08..2026-10)."""
    periods = [previous_period(period_of(now()))]
    while len(periods) < MONTHS:
        periods.append(previous_period(periods[-1]))
    return sorted(periods)


def logins() -> list[tuple[str, str, str]]:
    """(role, e-mail, password) of every demo user."""
    rows = [("admin", ADMIN[0], PASSWORD)]
    rows += [("publisher", email, PASSWORD) for email in PUBLISHERS.values()]
    rows += [("adopter", email, PASSWORD) for email in ADOPTERS.values()]
    return rows


def reset(app: Flask) -> None:
    """Wipe the embedded SQLite database and artifact folder (refuses other databases)."""
    url = app.config["DATABASE_URL"]
    if not url.startswith("sqlite:///"):
        raise ValueError("--reset only wipes the embedded SQLite database; drop other databases yourself")
    app.extensions["db"].engine.dispose()
    path = Path(url[len("sqlite:///"):])
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(app.config["ARTIFACT_DIR"], ignore_errors=True)


def populate(app: Flask, modules_dir: Path, say: Callable[[str], None] = print) -> DemoSummary:
    """Migrate, then (unless already populated) create users, modules, installs, usage, settlements."""
    from marketplace import db
    from marketplace.migrate import upgrade

    upgrade(app.config["DATABASE_URL"])
    with app.app_context():
        session = db.session()
        if session.scalar(sa.select(User.id).where(User.email == ADMIN[0])) is not None:
            say("demo data already present: reusing it (use --reset to start over)")
            return DemoSummary(logins(), demo_periods(), 0, reused=True)
        accounts.load_divisions(session)
        users = _users(session)
        session.commit()
        versions = _publish_all(app, session, users, modules_dir, say)
        installs = _install_all(app, session, users, versions, say)
        events = _usage(session, installs, say)
        _co_own(session, users, say)
        settled = _settle(app, session, say)
        from marketplace.governance.demo_proposal import open_demo_proposal

        open_demo_proposal(session, PUBLISHERS, say)     # 待我决定: awaits 广东's publisher
        return DemoSummary(logins(), settled, events, reused=False)


def _users(session) -> dict[str, User]:
    """The demo users by e-mail."""
    people = [(ADMIN[0], ADMIN[1], "admin", "平台运营")]
    people += [(email, code, "publisher", "政数局") for code, email in PUBLISHERS.items()]
    people += [(email, code, "adopter", "政数局") for code, email in ADOPTERS.items()]
    return {email: accounts.add_user(session, email, PASSWORD, code, role, name)
            for email, code, role, name in people}


def _publish_all(app: Flask, session, users: dict[str, User], modules_dir: Path,
                 say: Callable[[str], None]) -> dict[str, str]:
    """Build, publish and approve every sample module; returns module → version."""
    from marketplace.catalog import service as catalog
    from marketplace.catalog.bundle import build_bundle
    from marketplace.catalog.store import store_for

    admin, published = users[ADMIN[0]], {}
    with tempfile.TemporaryDirectory() as out:
        for folder in sorted((p for p in modules_dir.iterdir() if (p / "manifest.toml").exists()),
                             key=_composites_last):
            province = PLAN.get(folder.name, ("440000", [], 0))[0]
            data = build_bundle(folder, out).read_bytes()
            result = catalog.publish(session, data, users[PUBLISHERS[province]], store_for(app.config),
                                     require_review=bool(app.config.get("REQUIRE_REVIEW", True)))
            version = result.version
            if version.state == "pending_review":
                catalog.review(session, version.module.name, version.version, "approve",
                               "demo: checks passed", admin)
            session.commit()
            published[version.module.name] = version.version
            say(f"published {version.module.name} {version.version} ({province})")
    return published


def _composites_last(folder: Path) -> tuple[bool, str]:
    """Sort key: plain modules first, then composites (their ``[[requires]]`` must exist)."""
    import tomllib

    with open(folder / "manifest.toml", "rb") as handle:
        return bool(tomllib.load(handle).get("requires")), folder.name


def _install_all(app: Flask, session, users: dict[str, User], versions: dict[str, str],
                 say: Callable[[str], None]) -> list:
    """Install each module for its cities, agreements dated at the start of the demo."""
    from marketplace.runtime import service as runtime

    start = period_bounds(demo_periods()[0])[0] + timedelta(hours=1)
    done = []
    for name in versions:
        for code in PLAN.get(name, ("", [], 0))[1]:
            item = runtime.install(session, users[ADOPTERS[code]], name, versions[name],
                                   accept_terms=True)
            item.created_at = item.accepted_at = start  # the agreement predates the usage history
            done.append(item)
        session.commit()
        say(f"installed {name} for {', '.join(PLAN.get(name, ('', [], 0))[1])}")
    return done


def _day_units(base: int, size: float, day: datetime, first: datetime, rng: random.Random) -> int:
    """Weekday-heavy, growing ~25 % a month, with noise."""
    weekday = day.weekday() < 5
    growth = 1 + 0.25 * ((day - first).days / 30)
    return max(0, int(base * size * growth * (1.0 if weekday else 0.18) * rng.uniform(0.8, 1.2)))


def _usage(session, installs: list, say: Callable[[str], None]) -> int:
    """Report usage from the demo start until now through the metering service (in bulk)."""
    from marketplace.metering.service import ingest_all

    rng = random.Random(2026)
    first = local(installs[0].accepted_at).replace(hour=0, minute=0) if installs else local(now())
    last = local(now())
    total = 0
    for item in installs:
        operations = [op.name for op in item.version.operations]
        base = PLAN.get(item.module.name, ("", [], 50))[2]
        events, day = [], first
        while day <= last:
            units = _day_units(base, CITY_SIZE.get(item.jurisdiction_code, 1.0), day, first, rng)
            hours = [9, 10, 11, 14, 15, 16] if units else []
            for hour in hours:
                at = day.replace(hour=hour, minute=rng.randrange(60))
                if at >= last:
                    break
                events.append({"id": f"demo-{item.id}-{at:%Y%m%d%H}",
                               "module": item.module.name, "operation": rng.choice(operations),
                               "units": units // len(hours), "occurred_at": at.isoformat()})
            day += timedelta(days=1)
        result = ingest_all(session, item.jurisdiction_code, events, source="reported")
        total += result.accepted
    say(f"recorded {total:,} usage events")
    return total


# 长三角共建 (DESIGN §13): 上海's module is co-owned; 江苏 joins from the last demo month
CO_OWNED = "medical-filing-cross-region"
OWNERSHIP = [  # (demo month index, owners with shares in bps, build cost in fen)
    (0, [("310000", 6000), ("330000", 4000)], 80_000_000),
    (-1, [("310000", 4000), ("320000", 2500), ("330000", 3500)], 120_000_000),
]


def _co_own(session, users: dict[str, User], say: Callable[[str], None]) -> None:
    """Record the co-owned module's ownership history, each decision from a demo month on."""
    from marketplace.catalog.models import Module
    from marketplace.governance.shares import set_owners

    module_id = session.scalar(sa.select(Module.id).where(Module.name == CO_OWNED))
    if module_id is None:
        return
    periods = demo_periods()
    for index, owners, cost in OWNERSHIP:
        set_owners(session, module_id, owners, cost, periods[index], users[PUBLISHERS["310000"]])
        say(f"{CO_OWNED} owned from {periods[index]} by "
            f"{' / '.join(f'{code} {bps / 100:g} %' for code, bps in owners)}, "
            f"build cost {format_display(cost, 'CNY')}")
    session.commit()


def _settle(app: Flask, session, say: Callable[[str], None]) -> list[str]:
    """Settle the past complete months through the settlement service."""
    from marketplace.plugins import get_provider
    from marketplace.settlement import service as settlement

    provider = get_provider(app.config)
    periods = demo_periods()
    for period in periods:
        result = settlement.settle(session, period, provider, actor=ADMIN[0],
                                   fee_bps=int(app.config.get("PLATFORM_FEE_BPS") or 0))
        totals = result["totals"]
        say(f"settled {period}: {totals.get('statements', 0)} statements, charges "
            f"{format_display(totals.get('charges_minor', 0), totals.get('currency', 'CNY'))}")
    return periods
