"""Training-and-jobs pages: a person's services, record one, edit one (history and optimistic lock).

Written by employment users of the office the person is actively referred to, for people 16 or
older on the start date (rules.py); read by caseworkers and managers in scope (access.POLICY).
An entry is edited only by its own office."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from .. import access, audit
from ..entries import (StaleEdit, load_entry, load_person, mark_conflict, require_open,
                       require_own_organisation)
from ..extensions import db
from ..sections import FileSection, register
from . import service
from .forms import KIND_LABELS, OUTCOME_LABELS, PLACE_LABELS, EmploymentForm
from .models import FIELDS, EmploymentService

employment_bp = Blueprint("employment", __name__)
SECTION = "employment"


def _summary(person):
    return {"entries": service.entries_of(person)}


register(FileSection(SECTION, _l("Training and jobs"), "employment.for_person", order=60,
                     summary_template="employment/_summary.html", load=_summary,
                     rows_in=(EmploymentService,), empty=lambda person: {"entries": []}))


@employment_bp.app_context_processor
def _labels():
    return {"job_labels": {"kind": KIND_LABELS, "place": PLACE_LABELS, "outcome": OUTCOME_LABELS}}


@employment_bp.route("/people/<person_id>/employment")
@access.route(SECTION, person="person_id")
def for_person(person_id: str):
    person = load_person(person_id, "read", SECTION)
    audit.record("view", object_type="person", object_id=person.id, section=SECTION)
    db.session.commit()
    return render_template("employment/for_person.html", person=person, entries=service.entries_of(person),
                           can_write=access.can(current_user, "write", person, SECTION) and person.status == "open")


def _form(person, entry=None) -> EmploymentForm:
    data = None
    if request.method == "GET":
        data = ({f: getattr(entry, f) for f in FIELDS} | {"version": entry.version} if entry
                else {"place": "local", "outcome": "ongoing"})
    return EmploymentForm(data=data, person=person)


@employment_bp.route("/people/<person_id>/employment/new", methods=["GET", "POST"])
@access.route(SECTION, "write", person="person_id")
def new(person_id: str):
    person = load_person(person_id, "write", SECTION)
    require_open(person)
    form = _form(person)
    if form.validate_on_submit():
        service.create(person, form.data, current_user)
        db.session.commit()
        flash(_("Service recorded."), "success")
        return redirect(url_for("employment.for_person", person_id=person.id))
    return render_template("employment/form.html", form=form, person=person, entry=None)


@employment_bp.route("/employment/<entry_id>/edit", methods=["GET", "POST"])
@access.route(SECTION, "write", person="entry_id")
def edit(entry_id: str):
    entry, person = load_entry(EmploymentService, entry_id, "write", SECTION)
    require_own_organisation(entry, SECTION)
    require_open(person)
    form = _form(person, entry)
    if form.validate_on_submit():
        try:
            changes = service.update(entry, form.data, current_user, form.version.data)
            db.session.commit()
        except (StaleEdit, StaleDataError):
            mark_conflict(form, EmploymentService, entry_id)
            return render_template("employment/form.html", form=form, person=person, entry=entry), 409
        flash(_("Saved.") if changes else _("Nothing was changed."), "success")
        return redirect(url_for("employment.for_person", person_id=person.id))
    return render_template("employment/form.html", form=form, person=person, entry=entry)
