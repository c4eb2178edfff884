"""办好一件事 pages: a composite's flow on its catalogue page, and the adopter console running it
from a form built from its input schema, through the gateway's call path, step by step with costs."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.web.conftest import REPO, csrf_of, login, page_text

DEPENDENCIES = ("resident-id-verification", "social-insurance-transfer", "housing-fund-withdrawal",
                "medical-filing-cross-region")
COMPOSITE = "cross-province-relocation"
GOOD = {
    "applicant.id_number": "11010519491231002X", "applicant.name": "王秀英",
    "from_region": "110105", "to_region": "440305", "moved_on": "2026-03-01",
    "applied_on": "2026-10-01", "hukou_region": "440305",
    "contribution_history": "440300 2010-01 2015-12 8000.00\n330100 2015-10 2020-06 10000.00",
    "personal_account_balance": "85000.00",
    "housing_fund.reason": "rent", "housing_fund.account_balance": "30000.00",
    "housing_fund.monthly_rent": "3500.00", "housing_fund.months": "12",
    "housing_fund.owns_home_in_city": "false", "housing_fund.consecutive_months": "24",
}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory) -> dict[str, bytes]:
    """The composite and the four modules it calls, as bundles (built once)."""
    from marketplace.catalog.bundle import build_bundle

    out = tmp_path_factory.mktemp("matter-bundles")
    return {name: build_bundle(REPO / "modules" / name, out).read_bytes()
            for name in (*DEPENDENCIES, COMPOSITE)}


@pytest.fixture
def matter(app, factory, bundles):
    """广东省 publishes all five; 深圳市 installs them: returns the users and installation ids."""
    from marketplace import db
    from marketplace.accounts.service import find_user
    from marketplace.catalog import service as catalog
    from marketplace.catalog.store import store_for
    from marketplace.runtime import service as runtime

    people = {"publisher": factory.user("publisher", "440000"),
              "adopter": factory.user("adopter", "440300"),
              "stranger": factory.user("adopter", "330100"),
              "admin": factory.user("admin", "110000")}
    ids = {}
    with app.app_context():
        session = db.session()
        publisher, admin = (find_user(session, people[k]) for k in ("publisher", "admin"))
        for name in (*DEPENDENCIES, COMPOSITE):
            result = catalog.publish(session, bundles[name], publisher, store_for(app.config))
            catalog.review(session, name, result.version.version, "approve", "", admin)
            session.commit()
        adopter = find_user(session, people["adopter"])
        for name in (*DEPENDENCIES, COMPOSITE):
            ids[name] = runtime.install(session, adopter, name, accept_terms=True).id
            session.commit()
        stranger = find_user(session, people["stranger"])
        ids["stranger"] = runtime.install(session, stranger, "resident-id-verification",
                                          accept_terms=True).id
        session.commit()
    return {"people": people, "ids": ids}


def _events(app) -> list[tuple]:
    from marketplace import db
    from marketplace.metering.models import UsageEvent

    with app.app_context():
        return db.session().execute(sa.select(UsageEvent.installation_id, UsageEvent.operation,
                                              UsageEvent.status, UsageEvent.units,
                                              UsageEvent.parent_event)).all()


def test_catalogue_page_draws_the_flow_with_departments_and_materials(client, matter):
    html = client.get(f"/modules/{COMPOSITE}").get_data(as_text=True)
    flow = html[html.index('id="flow"'):html.index('id="terms"')]
    steps = re.findall(r'id="flow-step-(\d)".*?<code>([a-z-]+)</code>', flow, re.S)
    assert steps == [("1", "resident-id-verification"), ("2", "social-insurance-transfer"),
                     ("3", "housing-fund-withdrawal"), ("4", "medical-filing-cross-region")]
    text = page_text(flow)
    assert "居民身份核验" in text and "异地就医备案" in text
    assert text.count("办理部门: 广东省 (440000)") == 4
    for title in ("申请人", "公民身份号码", "迁出地行政区划代码", "迁入日期", "参保缴费记录"):
        assert title in text, title
    assert "公积金账户余额" not in text       # optional material: not listed as required
    assert "flow.css" in html and "<style" not in flow


def test_plain_module_page_has_no_flow(client, matter):
    html = client.get("/modules/resident-id-verification").get_data(as_text=True)
    assert 'id="flow"' not in html


def test_form_is_generated_from_the_input_schema(client, matter, app):
    login(client, matter["people"]["adopter"])
    iid = matter["ids"][COMPOSITE]
    html = client.get(f"/adopter/installations/{iid}/run").get_data(as_text=True)
    form = html[html.index('id="matter-form"'):]
    names = re.findall(r'name="([a-z_.]+)"', form)
    assert names[0] == "csrf_token"
    assert set(GOOD) | {"medical_filing_type", "housing_fund.house_price"} <= set(names)
    required = set(re.findall(r'name="([a-z_.]+)"[^>]* required', form))
    assert {"applicant.id_number", "from_region", "contribution_history",
            "housing_fund.reason"} <= required
    assert "applicant.name" not in required and "hukou_region" not in required
    assert 'role="radiogroup" aria-labelledby="f-housing_fund-reason-label"' in form
    assert '<input type="radio" name="housing_fund.reason" value="rent"' in form     # enum
    assert '<select id="f-housing_fund-owns_home_in_city"' in form      # boolean: yes / no
    assert '<textarea id="f-contribution_history"' in form              # array of strings
    assert 'type="number"' in form and "<legend>住房公积金提取" in form   # integer; nested object
    assert _events(app) == []


def test_a_run_shows_each_step_and_its_cost(client, matter, app):
    login(client, matter["people"]["adopter"])
    iid = matter["ids"][COMPOSITE]
    token = csrf_of(client.get(f"/adopter/installations/{iid}/run").get_data(as_text=True))
    response = client.post(f"/adopter/installations/{iid}/run", data={**GOOD, "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 200, page_text(html)[:2000]
    assert 'id="result-status">已办结' in html
    rows = re.findall(r'<tr class="step-row ok" id="step-(\d)">(.*?)</tr>', html, re.S)
    assert [n for n, _row in rows] == ["1", "2", "3", "4"]
    cells = [page_text(row) for _n, row in rows]
    assert "resident-id-verification" in cells[0] and "¥0.01" in cells[0]     # ¥0.01 a call
    assert "social-insurance-transfer" in cells[1] and "¥0.00" in cells[1]     # transfer terms
    assert "按月分摊" in cells[2] and "按月分摊" in cells[3]                   # cost share
    own = page_text(re.search(r'id="step-own">(.*?)</tr>', html, re.S).group(1))
    assert "cross-province-relocation" in own and "¥0.00" in own              # 100 free a month
    assert 'id="total-cost">¥0.01<' in html
    assert "218920.00" in html and "24000.00" in html and "YDBA-110105-" in html
    events = _events(app)
    assert len(events) == 5
    composite = [e for e in events if e[0] == iid]
    assert composite[0][2] == "ok" and composite[0][4] is None
    assert all(e[4] is not None and e[2] == "ok" for e in events if e[0] != iid)


def test_bad_input_shows_field_errors_and_bills_nothing(client, matter, app):
    login(client, matter["people"]["adopter"])
    iid = matter["ids"][COMPOSITE]
    token = csrf_of(client.get(f"/adopter/installations/{iid}/run").get_data(as_text=True))
    bad = {**GOOD, "from_region": "11010", "housing_fund.months": "twelve",
           "applicant.id_number": "", "contribution_history": "440300 2010 8000"}
    response = client.post(f"/adopter/installations/{iid}/run", data={**bad, "csrf_token": token})
    assert response.status_code == 400
    html = response.get_data(as_text=True)

    def errors_of(name: str) -> str:
        block = re.search(rf'id="field-f-{name}">(.*?)</div>', html, re.S).group(1)
        return " ".join(re.findall(r'class="field-error error"[^>]*>([^<]*)<', block))

    assert errors_of("housing_fund-months") == "请输入整数"
    bad.pop("housing_fund.months")
    response = client.post(f"/adopter/installations/{iid}/run",
                           data={**bad, "housing_fund.months": "12", "csrf_token": token})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert errors_of("from_region") == "格式不符合要求"
    assert errors_of("applicant-id_number") == "必填"
    assert errors_of("contribution_history") == "格式不符合要求"
    assert errors_of("to_region") == ""
    assert 'value="王秀英"' in html                         # what was typed stays
    assert 'id="result"' not in html and _events(app) == []


def test_form_without_csrf_runs_nothing(client, matter, app):
    login(client, matter["people"]["adopter"])
    iid = matter["ids"][COMPOSITE]
    response = client.post(f"/adopter/installations/{iid}/run", data=GOOD)
    assert response.status_code == 400 and _events(app) == []


def test_another_jurisdiction_cannot_run_under_someone_elses_installation(client, matter, app):
    login(client, matter["people"]["stranger"])
    iid = matter["ids"][COMPOSITE]
    assert client.get(f"/adopter/installations/{iid}/run").status_code == 404
    own = matter["ids"]["stranger"]
    token = csrf_of(client.get(f"/adopter/installations/{own}/run").get_data(as_text=True))
    response = client.post(f"/adopter/installations/{iid}/run", data={**GOOD, "csrf_token": token})
    assert response.status_code == 404 and _events(app) == []


def test_a_failing_step_is_located_and_not_billed(client, matter, app):
    login(client, matter["people"]["adopter"])
    iid = matter["ids"][COMPOSITE]
    token = csrf_of(client.get(f"/adopter/installations/{iid}/run").get_data(as_text=True))
    # rent withdrawal without the rent: the housing fund module refuses step 3
    data = {**GOOD, "housing_fund.monthly_rent": "", "csrf_token": token}
    html = client.post(f"/adopter/installations/{iid}/run", data=data).get_data(as_text=True)
    status = page_text(re.search(r'id="result-status"[^>]*>(.*?)</p>', html, re.S).group(1))
    assert "step_failed" in status and "step 3" in status and "housing-fund-withdrawal" in status
    events = _events(app)
    billed = [e for e in events if e[2] == "ok"]
    assert len(billed) == 2 and all(e[3] > 0 for e in billed)      # steps 1 and 2 ran
    assert [e for e in events if e[0] == iid][0][2] == "error"     # the composite raised: §5


def test_flow_and_form_in_english(client, matter):
    text = page_text(client.get(f"/modules/{COMPOSITE}?lang=en").get_data(as_text=True))
    assert "Flow" in text and "Materials to bring" in text
    assert text.count("Department: 广东省 (440000)") == 4
    login(client, matter["people"]["adopter"])
    html = client.get(f"/adopter/installations/{matter['ids'][COMPOSITE]}/run").get_data(as_text=True)
    assert "Application form" in html and "(Required)" in html and "Submit" in html


def test_a_plain_module_runs_from_its_form_too(client, matter, app):
    login(client, matter["people"]["adopter"])
    iid = matter["ids"]["resident-id-verification"]
    html = client.get(f"/adopter/installations/{iid}/run").get_data(as_text=True)
    assert '<label for="f-id_number" id="f-id_number-label"><code>id_number</code>' in html
    data = {"id_number": "11010519491231002X", "as_of": "2026-10-01", "csrf_token": csrf_of(html)}
    html = client.post(f"/adopter/installations/{iid}/run", data=data).get_data(as_text=True)
    assert 'id="result-status">已办结' in html and "110105********002X" in html
    own = page_text(re.search(r'id="step-own">(.*?)</tr>', html, re.S).group(1))
    assert "¥0.01" in own and 'id="total-cost">¥0.01<' in html
    assert [(e[0], e[2], e[3]) for e in _events(app)] == [(iid, "ok", 1)]


def test_install_page_lists_what_a_composite_installs_and_what_each_costs(client, matter, app,
                                                                           factory):
    from marketplace import db
    from marketplace.runtime.models import Installation

    clerk = factory.user("adopter", "440100")
    login(client, clerk)
    html = client.get(f"/adopter/install/{COMPOSITE}").get_data(as_text=True)
    rows = dict(re.findall(r'<tr id="plan-([a-z-]+)">(.*?)</tr>', html, re.S))
    assert sorted(rows) == sorted(DEPENDENCIES)
    assert "每单位 ¥0.01" in page_text(rows["resident-id-verification"]) or \
        "¥0.01" in page_text(rows["resident-id-verification"])
    assert "¥120,000.00" in page_text(rows["social-insurance-transfer"])       # transfer fee
    assert "广东省" in page_text(rows["housing-fund-withdrawal"])
    assert "接受以上全部条款并安装" in html
    token = csrf_of(html)
    response = client.post(f"/adopter/install/{COMPOSITE}",
                           data={"version": "1.0.0", "accept_terms": "y", "csrf_token": token})
    assert response.status_code == 302, page_text(response.get_data(as_text=True))[:800]
    with app.app_context():
        names = {i.module.name for i in db.session().scalars(
            sa.select(Installation).where(Installation.jurisdiction_code == "440100",
                                          Installation.state == "active"))}
    assert names == {*DEPENDENCIES, COMPOSITE}


def test_install_page_names_what_is_already_installed(client, matter, app, factory):
    clerk = factory.user("adopter", "330100")      # has resident-id-verification (the fixture)
    login(client, clerk)
    html = client.get(f"/adopter/install/{COMPOSITE}").get_data(as_text=True)
    assert 'id="plan-resident-id-verification"' not in html
    satisfied = page_text(re.search(r'id="plan-satisfied">(.*?)</ul>', html, re.S).group(1))
    assert "居民身份核验" in satisfied
    assert len(re.findall(r'<tr id="plan-', html)) == 3


def test_an_interface_step_lists_each_implementation_and_its_department(client, app, factory,
                                                                        tmp_path):
    """A step naming an interface shows every listed module serving it, with its publisher."""
    from marketplace import db
    from marketplace.accounts.service import find_user
    from marketplace.catalog import service as catalog
    from marketplace.catalog.bundle import build_bundle
    from marketplace.catalog.store import store_for

    folder = tmp_path / "licence-matter"
    (folder / "licence_matter").mkdir(parents=True)
    (folder / "licence_matter" / "__init__.py").write_text(
        "from marketplace.sdk import hookimpl\n\n\n@hookimpl\ndef check(payload, context):\n"
        "    return context.call('gov.e-license-lookup', 'lookup_license', payload)\n",
        encoding="utf-8")
    (folder / "manifest.toml").write_text('''[module]
name = "licence-matter"
version = "1.0.0"
title = "证照核验一件事"
summary = "Looks a licence up through whichever province serves it."
category = "government_operations"
entry = "licence_matter"
source_license = "MIT"

[[requires]]
interface = "gov.e-license-lookup"
operations = ["lookup_license"]

[[operations]]
name = "check"
input = { type = "object", required = ["holder_id"], properties = { holder_id = { type = "string", title = "持证主体标识", description = "公民身份号码或统一社会信用代码" } } }
output = { type = "object" }

[terms]
kind = "free"
''', encoding="utf-8")
    guangdong, zhejiang = factory.user("publisher", "440000"), factory.user("publisher", "330000")
    admin = factory.user("admin", "110000")
    with app.app_context():
        session = db.session()
        for name, who in (("e-license-guangdong", guangdong), ("e-license-zhejiang", zhejiang),
                          (folder, guangdong)):
            source = folder if isinstance(name, type(folder)) else REPO / "modules" / name
            data = build_bundle(source, tmp_path / "dist").read_bytes()
            result = catalog.publish(session, data, find_user(session, who), store_for(app.config))
            catalog.review(session, result.version.module.name, result.version.version,
                           "approve", "", find_user(session, admin))
            session.commit()
    html = client.get("/modules/licence-matter").get_data(as_text=True)
    step = page_text(html[html.index('id="flow-step-1"'):html.index("申请材料")])
    assert "共享接口 | gov.e-license-lookup" in step
    assert "粤省事电子证照查询 | · 广东省 (440000)" in step and "浙江省 (330000)" in step
    materials = page_text(html[html.index("申请材料"):html.index('id="terms"')])
    assert "持证主体标识 | : 公民身份号码或统一社会信用代码" in materials


def test_a_form_sent_twice_runs_the_matter_once(client, matter, app):
    """A double click or a browser retry resends the form with its one-time key: the second
    answer is the first, replayed; nothing runs or is billed again. A fresh form is a new matter."""
    login(client, matter["people"]["adopter"])
    iid = matter["ids"][COMPOSITE]
    form = client.get(f"/adopter/installations/{iid}/run").get_data(as_text=True)
    key = re.search(r'name="run_key" value="([A-Za-z0-9_-]+)"', form).group(1)
    data = {**GOOD, "csrf_token": csrf_of(form), "run_key": key}
    first = client.post(f"/adopter/installations/{iid}/run", data=data)
    again = client.post(f"/adopter/installations/{iid}/run", data=data)
    assert first.status_code == again.status_code == 200
    assert 'id="result-status">已办结' in again.get_data(as_text=True)
    assert len(_events(app)) == 5                               # one composite + four steps
    fresh = re.search(r'name="run_key" value="([A-Za-z0-9_-]+)"',
                      again.get_data(as_text=True)).group(1)
    assert fresh != key
    third = client.post(f"/adopter/installations/{iid}/run", data={**data, "run_key": fresh})
    assert third.status_code == 200 and len(_events(app)) == 10


def test_a_date_that_does_not_exist_is_a_field_error_and_runs_no_step(client, matter, app):
    """format "date" is asserted (marketplace/schemas.py): 30 February never reaches a step."""
    login(client, matter["people"]["adopter"])
    iid = matter["ids"][COMPOSITE]
    token = csrf_of(client.get(f"/adopter/installations/{iid}/run").get_data(as_text=True))
    response = client.post(f"/adopter/installations/{iid}/run",
                           data={**GOOD, "moved_on": "2026-02-30", "csrf_token": token})
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    block = re.search(r'id="field-f-moved_on">(.*?)</div>', html, re.S).group(1)
    assert "格式不符合要求" in block
    assert 'id="result"' not in html and _events(app) == []


def test_the_api_refuses_the_matter_with_a_date_that_does_not_exist_before_any_step(
        client, matter, app, factory):
    """hostile3 F3: 跨省迁居一件事 with moved_on 2026-02-30 is 422 at moved_on, no step runs."""
    import tomllib

    manifest = tomllib.loads((REPO / "modules" / COMPOSITE / "manifest.toml").read_text("utf-8"))
    payload = {**manifest["operations"][0]["examples"][0]["input"], "moved_on": "2026-02-30"}
    token = factory.token(matter["people"]["adopter"], "invoke")
    operation = manifest["operations"][0]["name"]
    reply = client.post(f"/api/v1/invoke/{COMPOSITE}/{operation}", json=payload,
                        headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 422, reply.get_json()
    assert reply.get_json()["error"] == "invalid_input"
    assert [d["where"] for d in reply.get_json()["details"]] == ["moved_on"]
    assert [(iid, status, units) for iid, _, status, units, _ in _events(app)] == \
        [(matter["ids"][COMPOSITE], "rejected", 0)]
