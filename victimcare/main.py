"""Home page and language switch."""
from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_login import current_user
from sqlalchemy import func, select

from . import access
from .auth.views import _safe_next
from .extensions import db

main_bp = Blueprint("main", __name__)


@main_bp.route("/")
def home():
    counts = {}
    if access.can(current_user, "read", None, "identity"):
        base = access.scoped_people(current_user).subquery()
        rows = db.session.execute(select(base.c.status, base.c.identity_status, func.count())
                                  .group_by(base.c.status, base.c.identity_status)).all()
        for status, identity_status, n in rows:
            counts[status] = counts.get(status, 0) + n
            if status == "open" and identity_status == "unidentified":
                counts["unidentified"] = counts.get("unidentified", 0) + n
    return render_template("home.html", counts=counts)


@main_bp.route("/language/<code>")
def language(code: str):
    if code in ("zh_CN", "en"):
        session["lang"] = code
    return redirect(_safe_next(request.args.get("next")) if current_user.is_authenticated
                    else url_for("auth.login"))
