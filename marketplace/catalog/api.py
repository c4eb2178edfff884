"""JSON API of publishing: upload bundles, review, yank, download (DESIGN §8)."""
from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request

from marketplace import db
from marketplace.web.api import json_body, text_field
from marketplace.accounts.auth import load_principal, require
from marketplace.accounts.models import User
from marketplace.catalog import service
from marketplace.catalog.bundle import BundleError, problem
from marketplace.catalog.models import ModuleVersion
from marketplace.catalog.slots import SLOTS
from marketplace.catalog.store import store_for

bp = Blueprint("catalog_api", __name__, url_prefix="/api/v1")

ZIP_TYPES = ("application/zip", "application/octet-stream", "application/x-zip-compressed")


def version_json(item: ModuleVersion) -> dict:
    """The publish answer: name, version, sha256, state (plus yank and review facts)."""
    return {"name": item.module.name, "version": item.version, "sha256": item.sha256,
            "state": item.state, "yanked": item.yanked_at is not None,
            "yank_reason": item.yank_reason or None, "review_reason": item.review_reason or None}


def _uploaded_bytes() -> bytes:
    """The bundle from multipart field ``bundle`` (or a raw application/zip body)."""
    upload = request.files.get("bundle")
    if upload is not None:
        return upload.read()
    if request.mimetype in ZIP_TYPES and request.content_length:
        return request.get_data()
    raise BundleError([problem("request: bundle", "send the bundle zip as multipart form field "
                               "'bundle' (curl -F bundle=@NAME-VERSION.zip)", "no_bundle")])


def _user() -> User:
    return db.session().get(User, g.principal.user_id)


@bp.post("/modules")
@require("publish")
def publish():
    """Upload a bundle: 201 new version, 200 same bytes again, 400/403/409 refusals."""
    data = _uploaded_bytes()
    session = db.session()
    config = current_app.config
    with SLOTS.on_behalf(g.principal.jurisdiction_code):     # its fair share of check slots
        result = service.publish(session, data, _user(), store_for(config),
                                 require_review=bool(config.get("REQUIRE_REVIEW", True)),
                                 check_timeout=float(config.get("CHECK_TIMEOUT", 10)),
                                 check_memory_mb=int(config.get("CHECK_MEMORY_MB", 512)),
                                 check_slots=int(config.get("PUBLISH_CHECKS", 1)))
    session.commit()
    return jsonify(version_json(result.version)), 201 if result.created else 200


@bp.get("/reviews")
@require("admin")
def review_queue():
    """Pending versions with their check reports, oldest first (admin)."""
    items = []
    for item in service.pending_reviews(db.session()):
        items.append({**version_json(item), "title": item.title,
                      "publisher": item.module.publisher_code, "terms": item.terms,
                      "uploaded_at": item.created_at.isoformat(),
                      "check_report": item.check_report})
    return jsonify({"items": items, "total": len(items)})


@bp.post("/reviews/<name>/<version>")
@require("admin")
def review(name: str, version: str):
    """Approve or reject a pending version: {"decision": "approve"|"reject", "reason": …}."""
    body = json_body(("decision", "reason"))
    session = db.session()
    item = service.review(session, name, version, str(body.get("decision", "")),
                          text_field(body, "reason"), _user())
    session.commit()
    return jsonify(version_json(item))


@bp.post("/modules/<name>/<version>/yank")
@require("publish", "admin")
def yank(name: str, version: str):
    """Yank a version with a reason (its publisher jurisdiction or an admin)."""
    body = json_body(("reason",))
    session = db.session()
    item = service.yank(session, name, version, text_field(body, "reason"), _user())
    session.commit()
    return jsonify(version_json(item))


@bp.get("/modules/<name>/<version>/bundle")
def download(name: str, version: str):
    """The verified bundle bytes: public once published (yanked too), else publisher/admin."""
    principal = load_principal()
    item, data = service.bundle_bytes(
        db.session(), store_for(current_app.config), name, version,
        principal.jurisdiction_code if principal else None,
        bool(principal and principal.is_admin))
    response = Response(data, mimetype="application/zip")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}-{version}.zip"'
    response.headers["X-Checksum-Sha256"] = item.sha256
    response.headers["ETag"] = f'"{item.sha256}"'
    response.headers["Cache-Control"] = "public, max-age=31536000, immutable" \
        if item.state == "published" else "private, no-store"
    return response
