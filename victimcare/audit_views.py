"""The auditor's view of the audit trail."""
import datetime as dt
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user
from sqlalchemy import func, select

from . import access
from .audit import ACTIONS, AuditEvent
from .extensions import db
from .web import page_arg

audit_bp = Blueprint("audit", __name__, url_prefix="/audit")


def _date_arg(name: str):
    """A date filter; ignored when it is not a date, or so far off (year 1, 9999) that it has no
    UTC instant (OverflowError, a server error)."""
    try:
        day = dt.date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return None
    return day if dt.date(1900, 1, 1) <= day <= dt.date(2999, 12, 31) else None


def _utc_start_of(day: dt.date) -> dt.datetime:
    """Midnight of a local (office time zone) day as the naive UTC that ``ts`` is stored in."""
    zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])
    return dt.datetime.combine(day, dt.time(), zone).astimezone(dt.UTC).replace(tzinfo=None)


@audit_bp.route("/")
@access.route("audit")
def trail():
    access.require_area(current_user, "read", "audit")
    query = select(AuditEvent)
    # Without NUL: PostgreSQL refuses it even in a query (a server error); no stored value has one.
    filters = {k: (request.args.get(k) or "").replace("\x00", "").strip()[:80]
               for k in ("username", "action", "object_id", "section")}
    if filters["username"]:
        query = query.where(AuditEvent.username == filters["username"])
    if filters["action"] in ACTIONS:
        query = query.where(AuditEvent.action == filters["action"])
    if filters["object_id"]:
        query = query.where(AuditEvent.object_id == filters["object_id"])
    if filters["section"]:
        query = query.where(AuditEvent.section == filters["section"])
    since, until = _date_arg("since"), _date_arg("until")
    if since:
        query = query.where(AuditEvent.ts >= _utc_start_of(since))
    if until:
        query = query.where(AuditEvent.ts < _utc_start_of(until + dt.timedelta(days=1)))
    page = page_arg()
    size = current_app.config["PAGE_SIZE"] * 2
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    events = db.session.scalars(query.order_by(AuditEvent.seq.desc())
                                .offset((page - 1) * size).limit(size)).all()
    return render_template("audit/trail.html", events=events, filters=filters, actions=ACTIONS,
                           since=since, until=until, page=page, pages=max(1, -(-total // size)), total=total)
