"""Pages of the placement section: a person's stays, admission (or transfer), edit, discharge.

The residence pages (the list, a person's application) are in residence_views.py, on the same blueprint."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from .. import access, audit
from ..choices import options
from ..entries import CONFLICT_MESSAGE, describe_latest_change, load_entry, load_person, mark_conflict
from ..extensions import db
from ..sections import FileSection, register, shared
from . import residence, service
from .forms import RELATION_LABELS, TYPE_LABELS, AdmissionForm, DischargeForm, PlacementForm
from .models import Placement, ResidenceApplication

placements_bp = Blueprint("placements", __name__)

STATE_LABELS = {"not_due": _l("Not yet due"), "due": _l("Due"), "overdue": _l("Overdue"),
                "drafted": _l("Application drafted"), "submitted": _l("Submitted to public security"),
                "registered": _l("Hukou registered"), "ended": _l("Identity established: rule ended"),
                "not_applicable": _l("Not in an institution")}
APPLICATION_LABELS = {"drafted": _l("Drafted"), "submitted": _l("Submitted"), "registered": _l("Registered"),
                      "withdrawn": _l("Withdrawn")}


def _placement_summary(person):
    # The residence card needs the same two queries' rows: asked once for both.
    stays = shared(person, service.stays_of, Placement, [])
    application = shared(person, residence.current_application, ResidenceApplication)
    return {"stays": stays, "current": next((s for s in stays if s.is_open), None),
            "residence": residence.state_of(person, application, stays)}


register(FileSection("placement", _l("Placement"), "placements.for_person", order=30,
                     summary_template="placements/_summary.html", load=_placement_summary,
                     rows_in=(Placement, ResidenceApplication),
                     empty=lambda person: {"stays": [], "current": None,
                                           "residence": residence.state_of(person, None, [])}))


@placements_bp.app_context_processor
def _labels():
    return {"placement_type_labels": TYPE_LABELS, "household_relation_labels": RELATION_LABELS,
            "residence_state_labels": STATE_LABELS, "application_status_labels": APPLICATION_LABELS}


def _institution_choices(form):
    orgs = service.institutions_for(current_user)
    form.organisation_id.choices = options(((o.id, o.name) for o in orgs), blank="—")


def _form_data(stay: Placement) -> dict:
    data = {a: getattr(stay, a) for a in service.PLACEMENT_ATTRS}
    data["version"] = stay.version
    return data


def _add_errors(form, errors: dict) -> None:
    for name, message in errors.items():
        if name in form:
            form[name].errors.append(message)
        else:
            form.form_errors.append(message)


@placements_bp.route("/people/<person_id>/placements", methods=["GET", "POST"])
@access.route("placement", person="person_id", post="write")
def for_person(person_id: str):
    person = load_person(person_id, "write" if request.method == "POST" else "read", "placement")
    can_write = access.can(current_user, "write", person, "placement") and person.status == "open"
    form = AdmissionForm()
    _institution_choices(form)
    if request.method == "GET":
        form.organisation_id.data = current_user.organisation_id if current_user.organisation.holds_cases else None
        form.current_stay.data = _stay_marker(service.open_stay(person))
        audit.record("view", object_type="person", object_id=person.id, section="placement")
        db.session.commit()
    elif not can_write:
        abort(409)  # a closed file takes no new stays
    elif "current_stay" in request.form and form.current_stay.data != _stay_marker(service.open_stay(person)):
        return _admission_conflict(form, person)
    elif form.validate():
        try:
            service.admit(person, form.data, current_user)
            db.session.commit()
        except service.PlacementRefused as exc:
            db.session.rollback()
            _add_errors(form, exc.errors)
        except StaleDataError:  # the stay being transferred from was changed at the same moment
            return _admission_conflict(form, person)
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("placements.for_person", person_id=person.id))
    data = _placement_summary(person)
    return render_template("placements/for_person.html", person=person, form=form, can_write=can_write,
                           today=dt.date.today(), **data)


def _stay_marker(stay) -> str:
    return f"{stay.id}:{stay.version}" if stay is not None else ""


def _admission_conflict(form, person):
    """The person's stays changed after the page was read: nothing saved, 409, the input kept, the
    other change named; the form now carries the current stay, so saving again is deliberate."""
    db.session.rollback()
    stays = service.stays_of(person)
    form.form_errors.append(CONFLICT_MESSAGE)
    their = describe_latest_change(stays[0], form) if stays else None
    if their:
        form.form_errors.append(their)
    form.current_stay.data = _stay_marker(next((s for s in stays if s.is_open), None))
    return render_template("placements/for_person.html", person=person, form=form, can_write=True,
                           today=dt.date.today(), **_placement_summary(person)), 409


@placements_bp.route("/placements/<stay_id>/edit", methods=["GET", "POST"])
@access.route("placement", "write", person="stay_id")
def edit(stay_id: str):
    stay, person = load_entry(Placement, stay_id, "write", "placement")
    form = PlacementForm(data=None if request.method == "POST" else _form_data(stay))
    _institution_choices(form)
    if stay.organisation_id and all(c.value != stay.organisation_id for c in form.organisation_id.choices[1:]):
        form.organisation_id.choices.append(options([(stay.organisation_id, stay.organisation.name)])[0])
    if form.validate_on_submit():
        try:
            changes = service.update(stay, person, form.data, current_user, form.version.data)
            db.session.commit()
        except service.PlacementRefused as exc:
            db.session.rollback()
            _add_errors(form, exc.errors)
        except (service.StaleEdit, StaleDataError):
            return _conflict("placements/form.html", form, person, stay)
        else:
            flash(_("Saved.") if changes else _("Nothing was changed."), "success")
            return redirect(url_for("placements.for_person", person_id=person.id))
    return render_template("placements/form.html", form=form, person=person, stay=stay)


@placements_bp.route("/placements/<stay_id>/discharge", methods=["GET", "POST"])
@access.route("placement", "write", person="stay_id")
def discharge(stay_id: str):
    stay, person = load_entry(Placement, stay_id, "write", "placement")
    form = DischargeForm(data=None if request.method == "POST" else {"version": stay.version})
    if not stay.is_open:  # discharged meanwhile: a posted form is a conflict, its input kept
        if request.method == "POST":
            return _conflict("placements/discharge.html", form, person, stay)
        return redirect(url_for("placements.edit", stay_id=stay.id))
    if form.validate_on_submit():
        try:
            service.discharge(stay, person, form.data, current_user, form.version.data)
            db.session.commit()
        except service.PlacementRefused as exc:
            db.session.rollback()
            _add_errors(form, exc.errors)
        except (service.StaleEdit, StaleDataError):
            return _conflict("placements/discharge.html", form, person, stay)
        else:
            flash(_("Discharged."), "success")
            return redirect(url_for("placements.for_person", person_id=person.id))
    return render_template("placements/discharge.html", form=form, person=person, stay=stay)


def _conflict(template, form, person, stay):
    fresh = mark_conflict(form, Placement, stay)
    return render_template(template, form=form, person=person, stay=fresh, conflict=True), 409


from . import residence_views  # noqa: E402,F401  (routes of the residence section on this blueprint)
