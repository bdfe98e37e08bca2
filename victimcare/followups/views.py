"""Pages of the follow-up section: the return, the visit schedule, recording a visit.

Caseworkers write, managers read ("followups" in access.POLICY); partners never see it. While the
file is closed, every write here is refused with 409 (see service.py)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from .. import access, audit
from ..entries import load_entry, load_person, mark_conflict
from ..extensions import db
from ..sections import FileSection, register
from . import service
from .forms import KIND_LABELS, METHOD_LABELS, STATE_LABELS, WISH_BY_LABELS, COUNTRY_LABELS, ReturnForm, VisitForm
from .models import RETURN_FIELDS, VISIT_FIELDS, FollowupVisit, PersonReturn
from .rules import visit_state

followups_bp = Blueprint("followups", __name__)

ERRORS = {
    "already_returned": _l("A return is already recorded for this person: correct it instead."),
    "repatriation_chinese": _l("Repatriation is only for foreign nationals; this person's nationality is "
                               "Chinese."),
    "repatriation_no_nationality": _l("Record the person's nationality in the identity section first."),
    "return_before_rescue": _l("The return date is before the rescue date."),
    "return_after_visit": _l("A follow-up visit was already made before this date."),
    "visit_before_return": _l("The visit is before the return date."),
    "already_closed": _l("The file is already closed."),
    "not_closed": _l("The file is not closed."),
    "reason_required": _l("Give the reason."),
}


def _summary(person):
    today = dt.date.today()
    ret = service.return_of(person)
    visits = [(v, visit_state(v.due_date, v.done_on, today)) for v in (ret.visits if ret else [])]
    upcoming = [v for v, state in visits if state != "done"]
    return {"ret": ret, "visits": visits, "next": upcoming[0] if upcoming else None,
            "late": sum(1 for _v, state in visits if state == "overdue"),
            "done": sum(1 for _v, state in visits if state == "done")}


register(FileSection("followups", _l("Return and follow-up"), "followups.for_person", order=90,
                     summary_template="followups/_summary.html", load=_summary,
                     rows_in=(PersonReturn,),
                     empty=lambda person: {"ret": None, "visits": [], "next": None, "late": 0, "done": 0}))


@followups_bp.app_context_processor
def _labels():
    return {"followup_labels": {"kind": KIND_LABELS, "method": METHOD_LABELS, "state": STATE_LABELS,
                                "wish_by": WISH_BY_LABELS, "country": COUNTRY_LABELS}}


def _closed_page(person):
    return render_template("followups/closed.html", person=person), 409


@followups_bp.route("/people/<person_id>/followups")
@access.route("followups", person="person_id")
def for_person(person_id: str):
    person = load_person(person_id, "read", "followups")
    audit.record("view", object_type="person", object_id=person.id, section="followups")
    db.session.commit()
    can_write = access.can(current_user, "write", person, "followups") and person.status == "open"
    return render_template("followups/for_person.html", person=person, data=_summary(person),
                           can_write=can_write, today=dt.date.today())


@followups_bp.route("/people/<person_id>/followups/return", methods=["GET", "POST"])
@access.route("followups", "write", person="person_id")
def edit_return(person_id: str):
    """Record the return, or correct it (the same form; optimistic lock on the record)."""
    person = load_person(person_id, "write", "followups")
    if person.status != "open":
        return _closed_page(person)
    ret = service.return_of(person)
    initial = None
    if request.method == "GET":
        initial = {f: getattr(ret, f) for f in RETURN_FIELDS} | {"version": ret.version} if ret else {}
        if not ret and person.nationality and person.nationality != "CHN":
            initial["country"] = person.nationality
    form = ReturnForm(data=initial)
    if form.validate_on_submit():
        try:
            if ret is None:
                service.record_return(person, form.data, current_user)
                message = _("Return recorded; follow-up visits are scheduled.")
            else:
                changes = service.update_return(ret, person, form.data, current_user, form.version.data)
                message = _("Saved.") if changes else _("Nothing was changed.")
            db.session.commit()
        except service.FollowupError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(ERRORS[exc.key])
        except (service.StaleEdit, StaleDataError, IntegrityError):  # the last: both recorded it at once
            db.session.rollback()
            ret = mark_conflict(form, PersonReturn, service.return_of(person).id)
            return render_template("followups/return_form.html", person=person, form=form, ret=ret), 409
        else:
            flash(message, "success")
            return redirect(url_for("followups.for_person", person_id=person.id))
    return render_template("followups/return_form.html", person=person, form=form, ret=ret)


@followups_bp.route("/followups/visits/<visit_id>", methods=["GET", "POST"])
@access.route("followups", "write", person="visit_id")
def record_visit(visit_id: str):
    visit, person = load_entry(FollowupVisit, visit_id, "write", "followups")
    if person.status != "open":
        return _closed_page(person)
    initial = None
    if request.method == "GET":
        initial = {f: getattr(visit, f) for f in VISIT_FIELDS} | {"version": visit.version}
    form = VisitForm(data=initial, return_date=visit.person_return.return_date)
    if form.validate_on_submit():
        try:
            changes = service.record_visit(visit, person, form.data, current_user, form.version.data)
            db.session.commit()
        except service.FollowupError as exc:
            db.session.rollback()
            getattr(form, exc.field).errors.append(ERRORS[exc.key])
        except (service.StaleEdit, StaleDataError):
            visit = mark_conflict(form, FollowupVisit, visit)
            return render_template("followups/visit_form.html", person=person, form=form, visit=visit), 409
        else:
            flash(_("Visit recorded.") if changes else _("Nothing was changed."), "success")
            return redirect(url_for("followups.for_person", person_id=person.id))
    return render_template("followups/visit_form.html", person=person, form=form, visit=visit)


from . import case_views  # noqa: E402,F401  (the "case" section's routes on this blueprint)
