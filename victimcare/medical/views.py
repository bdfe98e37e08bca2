"""Pages of the medical section: visits with costs, disability assessments (clinicians of the hospital
the person is actively referred to write; managers read). Reports to the police: report_views.py."""
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
from . import rules, service
from .forms import (DISABILITY_LABELS, GRADE_LABELS, REPORT_STATUS_LABELS, VISIT_TYPE_LABELS, DisabilityForm,
                    VisitForm)
from .models import DisabilityAssessment, MedicalVisit

medical_bp = Blueprint("medical", __name__)

def _summary(person):
    visits = service.visits_of(person)
    return {"visits": visits[:3], "count": len(visits), "totals": rules.cost_totals(visits),
            "assessments": service.assessments_of(person)[:1]}


register(FileSection("medical", _l("Medical care"), "medical.for_person", order=40,
                     summary_template="medical/_summary.html", load=_summary,
                     rows_in=(MedicalVisit, DisabilityAssessment),
                     empty=lambda person: {"visits": [], "count": 0, "totals": rules.cost_totals([]),
                                           "assessments": []}))


@medical_bp.app_context_processor
def _labels():
    return {"visit_type_labels": VISIT_TYPE_LABELS, "disability_labels": DISABILITY_LABELS,
            "grade_labels": GRADE_LABELS, "report_status_labels": REPORT_STATUS_LABELS}


def _can_write(person) -> bool:
    return access.can(current_user, "write", person, "medical") and person.status == "open"


def _render_section(person, visit_form=None, disability_form=None, status=200):
    visits = service.visits_of(person)
    can_write = _can_write(person)
    return render_template("medical/for_person.html", person=person, visits=visits,
                           totals=rules.cost_totals(visits), assessments=service.assessments_of(person),
                           can_write=can_write, visit_form=visit_form or VisitForm(formdata=None),
                           disability_form=disability_form or DisabilityForm(formdata=None)), status


@medical_bp.route("/people/<person_id>/medical")
@access.route("medical", person="person_id")
def for_person(person_id: str):
    person = load_person(person_id, "read", "medical")
    audit.record("view", object_type="person", object_id=person.id, section="medical")
    db.session.commit()
    return _render_section(person)


@medical_bp.route("/people/<person_id>/medical/visits", methods=["POST"])
@access.route("medical", "write", person="person_id")
def add_visit(person_id: str):
    person = load_person(person_id, "write", "medical")
    require_open(person)
    form = VisitForm()
    if not form.validate_on_submit():
        return _render_section(person, visit_form=form)
    service.add_visit(person, form.data, current_user)
    db.session.commit()
    flash(_("Visit recorded."), "success")
    return redirect(url_for("medical.for_person", person_id=person.id))


@medical_bp.route("/people/<person_id>/medical/assessments", methods=["POST"])
@access.route("medical", "write", person="person_id")
def add_assessment(person_id: str):
    person = load_person(person_id, "write", "medical")
    require_open(person)
    form = DisabilityForm()
    if not form.validate_on_submit():
        return _render_section(person, disability_form=form)
    service.add_assessment(person, form.data, current_user)
    db.session.commit()
    flash(_("Disability assessment recorded."), "success")
    return redirect(url_for("medical.for_person", person_id=person.id))


def _load_own(model, entry_id: str):
    """An entry to edit: the person must be in reach for writing, and the entry recorded by the
    user's own hospital (another hospital's costs are on its ledger, not ours)."""
    entry, person = load_entry(model, entry_id, "write", "medical")
    require_own_organisation(entry, "medical", owner="organisation_id")
    require_open(person)
    return entry, person


def _edit(model, entry_id: str, form_class, fields, update, template):
    entry, person = _load_own(model, entry_id)
    data = None if request.method == "POST" else {**{f: getattr(entry, f) for f in fields},
                                                  "version": entry.version}
    form = form_class(data=data)
    if request.method == "GET":
        audit.record("view", object_type="person", object_id=person.id, section="medical",
                     details={"entry": entry.id})
        db.session.commit()
    if form.validate_on_submit():
        try:
            changes = update(entry, form.data, current_user, form.version.data)
            db.session.commit()
        except (StaleEdit, StaleDataError):
            mark_conflict(form, model, entry)
            return render_template(template, form=form, person=person, entry=entry, conflict=True), 409
        flash(_("Saved.") if changes else _("Nothing was changed."), "success")
        return redirect(url_for("medical.for_person", person_id=person.id))
    return render_template(template, form=form, person=person, entry=entry)


@medical_bp.route("/medical/visits/<visit_id>/edit", methods=["GET", "POST"])
@access.route("medical", "write", person="visit_id")
def edit_visit(visit_id: str):
    return _edit(MedicalVisit, visit_id, VisitForm, ("visit_date", "visit_type", "diagnosis", "notes",
                                                     "total_cost", "insurance_paid"),
                 service.update_visit, "medical/visit_form.html")


@medical_bp.route("/medical/assessments/<assessment_id>/edit", methods=["GET", "POST"])
@access.route("medical", "write", person="assessment_id")
def edit_assessment(assessment_id: str):
    return _edit(DisabilityAssessment, assessment_id, DisabilityForm, service.ASSESSMENT_FIELDS,
                 service.update_assessment, "medical/assessment_form.html")


from . import report_views  # noqa: E402,F401  (registers the /reports/ routes on medical_bp)
