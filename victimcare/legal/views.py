"""Legal-aid pages: a person's applications, record one, edit one (history and optimistic lock).

Written by legal_aid users of the centre the person is actively referred to; read by caseworkers
and managers in scope (access.POLICY). An entry is edited only by its own centre."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from .. import access, audit
from ..choices import options
from ..entries import (StaleEdit, load_entry, load_person, mark_conflict, require_open,
                       require_own_organisation)
from ..extensions import db
from ..sections import FileSection, register
from . import service
from .forms import MATTER_LABELS, STATUS_LABELS, LegalAidForm
from .models import FIELDS, LegalAid

legal_bp = Blueprint("legal", __name__)
SECTION = "legal"


def _summary(person):
    return {"entries": service.entries_of(person)}


register(FileSection(SECTION, _l("Legal aid"), "legal.for_person", order=50,
                     summary_template="legal/_summary.html", load=_summary,
                     rows_in=(LegalAid,), empty=lambda person: {"entries": []}))


@legal_bp.app_context_processor
def _labels():
    return {"legal_labels": {"matter": MATTER_LABELS, "status": STATUS_LABELS}}


@legal_bp.route("/people/<person_id>/legal")
@access.route(SECTION, person="person_id")
def for_person(person_id: str):
    person = load_person(person_id, "read", SECTION)
    audit.record("view", object_type="person", object_id=person.id, section=SECTION)
    db.session.commit()
    return render_template("legal/for_person.html", person=person, entries=service.entries_of(person),
                           can_write=access.can(current_user, "write", person, SECTION) and person.status == "open")


def _form(entry=None) -> LegalAidForm:
    data = None
    if request.method == "GET":
        data = ({f: getattr(entry, f) for f in FIELDS} | {"version": entry.version} if entry
                else {"agency_id": current_user.organisation_id, "status": "applied"})
    form = LegalAidForm(data=data, current_status=entry.status if entry else None)
    form.agency_id.choices = options((o.id, o.name) for o in service.agencies())
    return form


@legal_bp.route("/people/<person_id>/legal/new", methods=["GET", "POST"])
@access.route(SECTION, "write", person="person_id")
def new(person_id: str):
    person = load_person(person_id, "write", SECTION)
    require_open(person)
    form = _form()
    if form.validate_on_submit():
        service.create(person, form.data, current_user)
        db.session.commit()
        flash(_("Legal-aid application recorded."), "success")
        return redirect(url_for("legal.for_person", person_id=person.id))
    return render_template("legal/form.html", form=form, person=person, entry=None)


@legal_bp.route("/legal/<entry_id>/edit", methods=["GET", "POST"])
@access.route(SECTION, "write", person="entry_id")
def edit(entry_id: str):
    entry, person = load_entry(LegalAid, entry_id, "write", SECTION)
    require_own_organisation(entry, SECTION)
    require_open(person)
    form = _form(entry)
    if form.validate_on_submit():
        try:
            changes = service.update(entry, form.data, current_user, form.version.data)
            db.session.commit()
        except (StaleEdit, StaleDataError):
            mark_conflict(form, LegalAid, entry_id)
            return render_template("legal/form.html", form=form, person=person, entry=entry, conflict=True), 409
        flash(_("Saved.") if changes else _("Nothing was changed."), "success")
        return redirect(url_for("legal.for_person", person_id=person.id))
    return render_template("legal/form.html", form=form, person=person, entry=entry)
