"""Home page and language switch."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import func, select

from . import access
from .followups.service import due_and_overdue
from .medical.service import new_reports_count
from .placements.residence import residence_due_count
from .referrals.service import awaiting_partner, work_list
from .auth.views import _safe_next
from .extensions import db

main_bp = Blueprint("main", __name__)


@main_bp.route("/")
@access.signed_in
def home():
    """What needs doing today, for whoever is logged in: each panel only where the role has it."""
    user, today = current_user, dt.date.today()
    todo = {
        "counts": _caseload_counts(user) if access.can(user, "read", None, "identity") else None,
        "residence_due": residence_due_count(user, today),
        "followups": due_and_overdue(user, today),
        "awaiting_partner": awaiting_partner(user) if access.allowed(user.role, "read", "referrals") else [],
        "work_list": work_list(user) if access.SCOPE.get(user.role) == "referral" else [],
        "new_reports": new_reports_count(user),
    }
    return render_template("home.html", **todo)


def _caseload_counts(user) -> dict:
    counts = {}
    base = access.scoped_people(user).subquery()
    rows = db.session.execute(select(base.c.status, base.c.identity_status, func.count())
                              .group_by(base.c.status, base.c.identity_status)).all()
    for status, identity_status, n in rows:
        counts[status] = counts.get(status, 0) + n
        if status == "open" and identity_status == "unidentified":
            counts["unidentified"] = counts.get("unidentified", 0) + n
    return counts


@main_bp.route("/healthz")
@access.public
def healthz():
    """For the load balancer: the app answers and reaches its database. No session, no audit row
    (it reveals nothing and is polled every few seconds)."""
    db.session.execute(select(1))
    return "ok", 200, {"Content-Type": "text/plain; charset=utf-8"}


@main_bp.route("/language/<code>")
@access.public
def language(code: str):
    if code in ("zh_CN", "en"):
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next")) if current_user.is_authenticated
                    else url_for("auth.login"))
