"""Usage charts, settlement from the operator console, statements and their CSV."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from marketplace.clock import clock, parse_instant
from tests.web.conftest import csrf_of, login


@pytest.fixture
def october_usage(app, client, people, published):
    """深圳市 installs in October and makes 7 successful calls of 1 unit on 2026-10-20."""
    from marketplace import db
    from marketplace.accounts.service import find_user
    from marketplace.metering.models import UsageEvent
    from marketplace.metering.service import call_event
    from marketplace.runtime import service as runtime

    clock.configure("2026-10-20T10:00:00+08:00", "Asia/Shanghai")
    with app.app_context():
        session = db.session()
        item = runtime.install(session, find_user(session, people["adopter"]), published,
                               accept_terms=True)
        for i in range(7):
            session.execute(sa.insert(UsageEvent), call_event(
                installation_id=item.id, event_id=f"e{i}", operation="verify_id", units=1,
                status="ok", occurred_at=parse_instant("2026-10-20T09:00:00+08:00")))
        session.commit()
    yield
    clock.configure("", "Asia/Shanghai")


def test_adopter_sees_usage_by_module_per_day(client, people, october_usage):
    login(client, people["adopter"])
    html = client.get("/adopter/usage?period=2026-10").get_data(as_text=True)
    assert '<svg class="chart"' in html and "<polyline" in html
    assert "居民身份核验: 7 计费单位" in html          # the module by its title, not its slug


def test_publisher_sees_usage_by_adopter(client, people, october_usage):
    login(client, people["publisher"])
    html = client.get("/publisher/usage?period=2026-10").get_data(as_text=True)
    assert "深圳市: 7 计费单位" in html and "440300 深圳市" not in html


def test_period_cannot_be_settled_before_it_ends(client, people, october_usage):
    login(client, people["admin"])
    page = client.get("/admin/periods").get_data(as_text=True)
    assert 'id="period-2026-10"' in page and "settle-form" not in page.split('id="period-2026-10"')[1].split("</tr>")[0]


def test_admin_settles_and_adopter_reads_statement_and_csv(app, client, people, october_usage):
    clock.configure("2026-11-25T10:00:00+08:00", "Asia/Shanghai")
    login(client, people["admin"])
    page = client.get("/admin/periods").get_data(as_text=True)
    settled = client.post("/admin/periods/settle", data={"csrf_token": csrf_of(page),
                                                         "period": "2026-10"},
                          follow_redirects=True)
    html = settled.get_data(as_text=True)
    assert settled.status_code == 200 and 'id="settlement-2026-10"' in html and "¥0.07" in html
    adopter = app.test_client()
    login(adopter, people["adopter"])
    statement = adopter.get("/adopter/statements?period=2026-10").get_data(as_text=True)
    assert 'id="total-charges">¥0.07<' in statement
    csv = adopter.get("/adopter/statements/2026-10.csv")
    assert csv.mimetype == "text/csv"
    assert "2026-10,charge,resident-id-verification,pay_per_use,440300,440000,7,0.07" in \
        csv.get_data(as_text=True)
    publisher = app.test_client()
    login(publisher, people["publisher"])
    assert "¥0.07" in publisher.get("/publisher/earnings?period=2026-10").get_data(as_text=True)


def test_statement_csv_of_unsettled_period_is_404(client, people):
    login(client, people["adopter"])
    assert client.get("/adopter/statements/2026-10.csv").status_code == 404
