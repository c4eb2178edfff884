"""Adopter console: run a matter (an installed module's operation) from a form built from its
input schema, through the gateway's own call path, and show each step's answer and cost."""
from __future__ import annotations

import json
import re
import secrets

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from marketplace import db, jsonio, schemas
from marketplace.accounts.auth import Principal
from marketplace.catalog.flow import composite_flow
from marketplace.errors import MarketplaceError
from marketplace.metering.step_costs import call_tree
from marketplace.runtime import service as runtime
from marketplace.web import schema_form
from marketplace.web.consoles import role_required
from marketplace.web.forms import ActionForm

bp = Blueprint("matters", __name__, url_prefix="/adopter/installations")
STATUS_WORDS = {"ok": _l("成功"), "rejected": _l("被拒绝"), "error": _l("出错")}


def _operation(item, name: str | None):
    """The chosen operation of the installed version (the first when none is named)."""
    operations = sorted(item.version.operations, key=lambda op: op.id)
    chosen = next((op for op in operations if op.name == name), None) if name else operations[0]
    if chosen is None:
        abort(404, description=f"{item.module.name} {item.version.version} has no operation {name!r}")
    return chosen, operations


def invoke(module: str, operation: str, payload, key: str | None = None
           ) -> tuple[int, dict, str | None]:
    """Call ``operation`` of the user's installation of ``module`` as the gateway does.

    The gateway's own entry (:func:`marketplace.runtime.gateway.invoke_as`: route
    lookup, input schema, quota, sandbox, metering, sub-calls), with the form's
    ``key`` as Idempotency-Key: (status, answer, usage event id).
    """
    from marketplace.runtime import gateway

    principal = Principal(user_id=current_user.id, email=current_user.email,
                          role=current_user.role, jurisdiction_code=current_user.jurisdiction_code,
                          scopes=frozenset({"invoke"}), token_id=0)
    try:
        response = gateway.invoke_as(principal, jsonio.dumps(payload).encode("utf-8"), payload,
                                     operation, module=module, key=key)
    except MarketplaceError as exc:
        return exc.status, exc.to_dict(), None
    return (response.status_code, json.loads(response.get_data(as_text=True)),
            response.headers.get("X-Usage-Event"))


@bp.route("/<int:installation_id>/run", methods=["GET", "POST"])
@role_required("adopter")
def run(installation_id: int):
    """The matter's form; on submit: checked here, then run and metered like a gateway call."""
    session = db.session()
    item = runtime.get_installation(session, current_user.jurisdiction_code, installation_id)
    op, operations = _operation(item, request.values.get("operation"))
    module, version = item.module.name, item.version.version
    flow = composite_flow(session, module, version)
    fields = schema_form.build(op.input_schema)
    form = ActionForm()
    answer, tree, loose, status = None, None, [], 200
    if request.method == "POST":
        if item.state != "active":
            loose, status = [_("该安装已结束，不能办理。")], 409
        elif not form.validate_on_submit():
            loose, status = [_("表单已过期，请重试。")], 400
        else:
            payload, readable = schema_form.read(fields, request.form)
            check = schemas.validator(op.input_schema, (op.schema_links or {}).get("input"))
            loose = schema_form.place(fields, schemas.errors(check, payload)) if readable else []
            if not readable or loose or any(f.errors for f in _all(fields)):
                status = 400
            else:
                current_user.jurisdiction.name   # loaded now: the call gives the session back
                status, answer, event = invoke(module, op.name, payload, _run_key())
                session = db.session()
                item = runtime.get_installation(session, current_user.jurisdiction_code,
                                                installation_id)
                tree = call_tree(session, current_user.jurisdiction_code, event) if event else None
    return render_template("adopter/run.html", item=item, module=module, version=version,
                           title=item.version.title, op=op, operations=operations, flow=flow,
                           fields=fields, form=form, loose=loose, answer=answer, tree=tree,
                           status=status, pretty=_pretty, run_key=secrets.token_urlsafe(16),
                           status_words=STATUS_WORDS), 200 if answer is not None else status


def _run_key() -> str | None:
    """The Idempotency-Key of this submission: the form's one-time key, per user.

    A form resubmitted (a double click, a browser retry) carries the same key, so
    the matter runs and is billed once and the second answer is the first replayed.
    """
    submitted = request.form.get("run_key", "")
    if not re.fullmatch(r"[A-Za-z0-9_-]{16,64}", submitted):
        return None
    return f"console-{current_user.id}-{submitted}"


def _all(fields):
    """Every input field, inside groups too."""
    for item in fields:
        yield from getattr(item, "fields", [item])


def _pretty(value) -> str:
    """A step's answer as indented JSON (Chinese kept as written)."""
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=False)
