"""School re-entry pages: a child's enrolments, record one, edit one, and the office's ledger.

Written by education users of the school office the child is actively referred to; read by
caseworkers and managers in scope (access.POLICY). An entry is edited only by its own office."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from .. import access, audit
from ..entries import (StaleEdit, load_entry, load_person, mark_conflict, require_open,
                       require_own_organisation)
from ..extensions import db
from ..web import page_arg
from ..sections import FileSection, register
from . import service
from .forms import GRADE_LABELS, STEP_LABELS, SchoolForm
from .models import FIELDS, SchoolEnrolment

schooling_bp = Blueprint("schooling", __name__)
SECTION = "schooling"


def _summary(person):
    return {"entries": service.entries_of(person)}


register(FileSection(SECTION, _l("School"), "schooling.for_person", order=55,
                     summary_template="schooling/_summary.html", load=_summary,
                     rows_in=(SchoolEnrolment,), empty=lambda person: {"entries": []}))


@schooling_bp.app_context_processor
def _labels():
    return {"school_labels": {"grade": GRADE_LABELS, "step": STEP_LABELS}}


@schooling_bp.route("/people/<person_id>/schooling")
@access.route(SECTION, person="person_id")
def for_person(person_id: str):
    person = load_person(person_id, "read", SECTION)
    audit.record("view", object_type="person", object_id=person.id, section=SECTION)
    db.session.commit()
    return render_template("schooling/for_person.html", person=person, entries=service.entries_of(person),
                           can_write=access.can(current_user, "write", person, SECTION) and person.status == "open")


def _form(person, entry=None) -> SchoolForm:
    data = None
    if request.method == "GET":
        data = ({f: getattr(entry, f) for f in FIELDS} | {"version": entry.version} if entry
                else {"transfer_state": "not_needed", "record_state": "not_needed"})
    return SchoolForm(data=data, person=person)


@schooling_bp.route("/people/<person_id>/schooling/new", methods=["GET", "POST"])
@access.route(SECTION, "write", person="person_id")
def new(person_id: str):
    person = load_person(person_id, "write", SECTION)
    require_open(person)
    form = _form(person)
    if form.validate_on_submit():
        service.create(person, form.data, current_user)
        db.session.commit()
        flash(_("Enrolment recorded."), "success")
        return redirect(url_for("schooling.for_person", person_id=person.id))
    return render_template("schooling/form.html", form=form, person=person, entry=None)


@schooling_bp.route("/schooling/<entry_id>/edit", methods=["GET", "POST"])
@access.route(SECTION, "write", person="entry_id")
def edit(entry_id: str):
    entry, person = load_entry(SchoolEnrolment, entry_id, "write", SECTION)
    require_own_organisation(entry, SECTION)
    require_open(person)
    form = _form(person, entry)
    if form.validate_on_submit():
        try:
            changes = service.update(entry, form.data, current_user, form.version.data)
            db.session.commit()
        except (StaleEdit, StaleDataError):
            mark_conflict(form, SchoolEnrolment, entry_id)
            return render_template("schooling/form.html", form=form, person=person, entry=entry), 409
        flash(_("Saved.") if changes else _("Nothing was changed."), "success")
        return redirect(url_for("schooling.for_person", person_id=person.id))
    return render_template("schooling/form.html", form=form, person=person, entry=entry)


@schooling_bp.route("/schooling/ledger")
@access.route(SECTION)
def ledger():
    """入学安置台账: every enrolment of the people the user reaches. Case numbers, not names: the ledger
    is a register passed around an office; a name is one (audited) click away on the file."""
    access.require_area(current_user, "read", SECTION)
    page = page_arg()
    size = current_app.config["PAGE_SIZE"]
    rows, total = service.ledger(current_user, page, size)
    audit.record("list", object_type="school_enrolment", section=SECTION, details={"results": total})
    db.session.commit()
    return render_template("schooling/ledger.html", rows=rows, total=total, page=page,
                           pages=max(1, -(-total // size)), today=dt.date.today())
