"""Setting or lowering a budget below what the period already spent warns at once (DESIGN §15):
the banner and the ``budget.warning`` webhook, once per threshold and period, as a crossing call."""
from __future__ import annotations

import json

import sqlalchemy as sa

from marketplace import db
from marketplace.settlement.budget_models import BudgetPeriod
from marketplace.webhooks.models import WebhookDelivery
from tests.runtime.conftest import PAY, catalog, fixed_clock, shenzhen  # noqa: F401


def _budget(adopter, iid: int, value):
    return adopter.client.patch(f"/api/v1/installations/{iid}", json={"budget": value},
                                headers=adopter.headers)


def _warnings(app, iid: int) -> list[int]:
    with app.app_context():
        rows = db.session().scalars(sa.select(WebhookDelivery).where(
            WebhookDelivery.type == "budget.warning").order_by(WebhookDelivery.id)).all()
        bodies = [json.loads(r.body) for r in rows]
        return [b["threshold"] for b in bodies if b["installation"] == iid]


def _hooked(adopter, monkeypatch) -> None:
    """A webhook endpoint on loopback (queued deliveries are all these tests read)."""
    monkeypatch.setenv("MARKETPLACE_WEBHOOK_ALLOW_PRIVATE", "1")
    answer = adopter.client.put("/api/v1/webhooks", json={"url": "http://127.0.0.1:9/hooks"},
                                headers=adopter.headers)
    assert answer.status_code == 200, answer.json


def _warned(app, iid: int) -> int:
    with app.app_context():
        row = db.session().get(BudgetPeriod, (iid, "2026-11"))
        return row.warned if row else 0


def test_a_budget_set_below_the_spending_so_far_warns_at_once(app, catalog, shenzhen,  # noqa: F811
                                                              fixed_clock, monkeypatch):  # noqa: F811
    _hooked(shenzhen, monkeypatch)
    catalog.toy(terms=PAY)
    iid = shenzhen.install("toy-echo").json["id"]
    for _ in range(4):                                      # 8 units, ¥0.08, before any budget
        assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
    assert _budget(shenzhen, iid, "0.10").status_code == 200     # 80 % already spent
    assert (_warned(app, iid), _warnings(app, iid)) == (80, [80])
    assert _budget(shenzhen, iid, "0.09").status_code == 200     # still 80 %: no second warning
    assert _warnings(app, iid) == [80]
    assert _budget(shenzhen, iid, "0.05").status_code == 200     # lowered below: 100 % at once
    assert (_warned(app, iid), _warnings(app, iid)) == (100, [80, 100])
    assert _budget(shenzhen, iid, "0.04").status_code == 200     # once per threshold
    assert _warnings(app, iid) == [80, 100]
    from tests.web.conftest import login, page_text

    web = app.test_client()
    login(web, shenzhen.email)
    assert "预算已用完：toy-echo 本月（2026-11）已用 ¥0.08" in page_text(
        web.get("/adopter/").get_data(as_text=True))


def test_a_budget_first_set_past_both_thresholds_warns_once_at_100(app, catalog, shenzhen,  # noqa: F811
                                                                 fixed_clock, monkeypatch):  # noqa: F811
    _hooked(shenzhen, monkeypatch)
    catalog.toy(terms=PAY)
    iid = shenzhen.install("toy-echo").json["id"]
    for _ in range(3):                                      # ¥0.06
        assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 200
    assert _budget(shenzhen, iid, "0.05").status_code == 200
    assert (_warned(app, iid), _warnings(app, iid)) == (100, [100])   # as a call crossing both
    assert shenzhen.invoke("toy-echo", "echo", {"text": "x"}).status_code == 402
    assert _warnings(app, iid) == [100]
