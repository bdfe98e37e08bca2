"""Pages of the identity section: caseload, register, view, edit, DNA status, history."""
from __future__ import annotations

import datetime as dt
import json
from typing import NamedTuple

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from .. import access, audit
from ..choices import options
from ..auth.models import CASE_HOLDING_KINDS, Organisation, User
from ..entries import StaleEdit, load_person, mark_conflict
from ..extensions import db
from ..web import page_arg, person_url
from ..sections import FileSection, file_sections, load_cards, register
from . import duplicates, service
from .forms import (CASE_STATUS_LABELS, IDENTITY_STATUS_LABELS, METHOD_LABELS, NATIONALITY_LABELS,
                    SEX_LABELS, TRACING_LABELS, CaseloadFilterForm, DnaForm, IdentityForm, RegisterForm)
from .models import IDENTITY_FIELDS, Person, PersonAlias, PersonRevision
from .rules import age_band

people_bp = Blueprint("people", __name__, url_prefix="/people")

LABELS = {"sex": SEX_LABELS, "identity_status": IDENTITY_STATUS_LABELS, "identified_method": METHOD_LABELS,
          "tracing_result": TRACING_LABELS, "status": CASE_STATUS_LABELS, "nationality": NATIONALITY_LABELS}


@people_bp.app_context_processor
def _helpers():
    # Bands go by birth year, the plaintext the caseload filter can use, so list and filter agree.
    return {"labels": LABELS,
            "age_band": lambda p: age_band(dt.date.today().year - p.birth_year) if p.birth_year else None}


get_person = load_person

register(FileSection("dna", _l("DNA sample"), "people.dna", order=20))


@people_bp.app_context_processor
def _file_sections():
    return {"file_sections": file_sections}


def _case_organisations():
    return [o for o in access.scoped_organisations(current_user) if o.kind in CASE_HOLDING_KINDS]


@people_bp.route("/")
@access.route("identity")
def caseload():
    access.require(current_user, "read", None, "identity")
    form = CaseloadFilterForm(request.args)
    # People belong to case-holding organisations only: a hospital in the list would always list no one.
    form.organisation_id.choices = options(((o.id, o.name) for o in _case_organisations()), blank=_("Any"))
    page = page_arg()
    size = current_app.config["PAGE_SIZE"]
    hits, total, kind = [], 0, None
    if form.validate():
        filters = form.filters
        kind = service.classify_query(filters["q"]) if filters.get("q") else None
        found, total = service.caseload_page(current_user, filters, page, size)
        # The name is shown only where the user may read identity (asked per person on the page).
        hits = [Hit(person, service.MATCH_KINDS.get(rank), access.can(current_user, "read", person, "identity"))
                for person, rank in found]
        _audit_listing(filters, total, kind)
        db.session.commit()
    return render_template("people/caseload.html", form=form, hits=hits, total=total, page=page,
                           pages=max(1, -(-total // size)), query_kind=kind)


class Hit(NamedTuple):
    """A caseload row: the person, how the search entry found her (None without one), and whether the
    user may see her name."""
    person: Person
    match: str | None
    shows_name: bool


def _audit_listing(filters: dict, total: int, kind: str | None) -> None:
    """Searches are audited by kind and result count, never the search text."""
    details = {k: str(v) for k, v in filters.items() if k != "q"}
    details["results"] = total
    if kind:
        details["query_kind"] = kind
        audit.record("search", object_type="person", section="identity", details=details)
    else:
        audit.record("list", object_type="person", section="identity", details=details)


@people_bp.route("/new", methods=["GET", "POST"])
@access.route("identity", "write")
def register():
    access.require(current_user, "write", None, "identity")
    form = RegisterForm()
    orgs = _case_organisations()
    form.organisation_id.choices = options((o.id, o.name) for o in orgs)
    if request.method == "GET":
        form.organisation_id.data = current_user.organisation_id
    if form.validate_on_submit():
        # Possible duplicates in the user's scope are shown before anything is saved.
        found = duplicates.check(current_user, form.data, request.form.get(duplicates.CONFIRM_FIELD))
        if found.warns:  # rendered before the commit, as the file page: nothing is shown unless audited
            found.record()
            page = render_template("people/form.html", form=form, person=None, duplicates=found)
            db.session.commit()
            return page
        org = db.session.get(Organisation, form.organisation_id.data)
        person = service.register_person(form.data, org, current_user)
        found.record(person)
        db.session.commit()
        flash(_("Registered. Case number %(number)s.", number=person.case_number), "success")
        return redirect(url_for("people.view", person_id=person.id))
    return render_template("people/form.html", form=form, person=None)


@people_bp.route("/find")
@access.route("summary")
def find():
    """The quick search of every page. A query that is exactly a case number opens that file when the
    user may open it; any other query goes to the caseload's results for those who may search it.
    A case number outside the user's reach answers exactly as one that does not exist; the attempt is
    audited as a denial on that file."""
    q = (request.args.get("q") or "").strip()[:100]
    kind = service.classify_query(q) if q else None
    if kind == "case_number":
        person = service.by_case_number(q)
        if person is not None and access.can(current_user, "read", person, "summary"):
            audit.record("search", object_type="person", object_id=person.id, section="summary",
                         details={"query_kind": kind, "results": 1})
            db.session.commit()
            return redirect(url_for("people.view", person_id=person.id))
        # Out of reach or not there: the same answer and the same work (one audit row either way),
        # so neither the page nor its timing tells whether another bureau holds that case number.
        audit.record("denied", object_type="person", object_id=person.id if person else None,
                     section="summary", details={"action": "read", "status": 404, "query_kind": kind})
    if access.can(current_user, "read", None, "identity"):
        db.session.commit()  # the caseload records the search itself
        return redirect(url_for("people.caseload", q=q) if q else url_for("people.caseload"))
    if kind == "case_number":
        audit.record("search", object_type="person", section="summary", details={"query_kind": kind, "results": 0})
    db.session.commit()
    return render_template("people/find.html", q=q, kind=kind), 404 if kind == "case_number" else 200


@people_bp.route("/<person_id>")
@access.route("summary", person="person_id")
def view(person_id: str):
    """The file: identity (or, for partners, the minimal identity) and a card per readable section.

    The user's rights on the file are asked once (the template asks ``rights``, not can() per link).
    The page is rendered before the audit row is committed, in the same transaction: nothing is sent
    unless the view is recorded, and what the template loads lazily needs no second transaction."""
    person = get_person(person_id, "read", "summary", options=_FILE_PAGE_JOINS)
    rights = access.rights(current_user._get_current_object(), person)
    identity = rights.can("read", "identity")
    cards = load_cards(person, {section for action, section in rights if action == "read"},
                       relations={"aliases": PersonAlias} if identity else None)
    # Each readable section's page: its tab and its card both link there.
    links = {s.key: person_url(s.endpoint, person.id) for s in file_sections() if rights.can("read", s.key)}
    page = render_template("people/view.html", person=person, today=dt.date.today(), cards=cards,
                           file_rights=rights, file_links=links)
    sections = ["identity" if identity else "summary"]
    audit.record("view", object_type="person", object_id=person.id, section=sections[0],
                 details={"sections": sections + [s.key for s, _data in cards]})
    db.session.commit()
    return page


# Who registered the person (the file page names them), in the same query as the person.
_FILE_PAGE_JOINS = (joinedload(Person.created_by).load_only(User.username),)


def _identity_form_data(person: Person) -> dict:
    data = {f: getattr(person, f) for f in IDENTITY_FIELDS if hasattr(person, f)}
    data["aliases"] = "\n".join(person.alias_names)
    if person.birth_date_estimated and person.birth_year:
        data["estimated_age"] = dt.date.today().year - person.birth_year
    data["version"] = person.version
    return data


@people_bp.route("/<person_id>/edit", methods=["GET", "POST"])
@access.route("identity", "write", person="person_id")
def edit(person_id: str):
    person = get_person(person_id, "write")
    form = IdentityForm(data=None if request.method == "POST" else _identity_form_data(person),
                        recorded_origin=person.origin_code)
    if form.validate_on_submit():
        try:
            changes = service.update_identity(person, form.data, current_user, form.version.data)
            db.session.commit()
        except (StaleEdit, StaleDataError):
            mark_conflict(form, Person, person)
            return render_template("people/form.html", form=form, person=person, conflict=True), 409
        flash(_("Saved.") if changes else _("Nothing was changed."), "success")
        return redirect(url_for("people.view", person_id=person.id))
    return render_template("people/form.html", form=form, person=person)


@people_bp.route("/<person_id>/dna", methods=["GET", "POST"])
@access.route("dna", person="person_id", post="write")
def dna(person_id: str):
    person = get_person(person_id, "write" if request.method == "POST" else "read", "dna")
    can_write = access.can(current_user, "write", person, "dna")
    form = DnaForm(data=None if request.method == "POST" else {
        "dna_sample_taken": person.dna_sample_taken, "dna_reference": person.dna_reference,
        "dna_submitted_on": person.dna_submitted_on, "version": person.version})
    if request.method == "GET":
        audit.record("view", object_type="person", object_id=person.id, section="dna")
        db.session.commit()
    elif form.validate_on_submit():
        try:
            service.update_dna(person, form.data, current_user, form.version.data)
            db.session.commit()
        except (StaleEdit, StaleDataError):
            mark_conflict(form, Person, person)
            return render_template("people/dna.html", form=form, person=person, can_write=can_write), 409
        flash(_("Saved."), "success")
        return redirect(url_for("people.dna", person_id=person.id))
    return render_template("people/dna.html", form=form, person=person, can_write=can_write)


@people_bp.route("/<person_id>/history")
@access.route("summary", person="person_id")
def history(person_id: str):
    person = get_person(person_id, "read", "summary")
    sections = [s for s in access.SECTIONS if access.can(current_user, "read", person, s)]
    revisions = db.session.scalars(
        select(PersonRevision).where(PersonRevision.person_id == person.id, PersonRevision.section.in_(sections))
        .order_by(PersonRevision.changed_at.desc())).all()
    audit.record("view", object_type="person", object_id=person.id, section="identity",
                 details={"page": "history"})
    db.session.commit()
    entries = [(r, json.loads(r.changes or "{}")) for r in revisions]
    return render_template("people/history.html", person=person, entries=entries)
