"""Pages of the residence section: the residence registration list, a person's state and application,
and the application's steps. Civil affairs drafts, edits, submits and withdraws; the police station
it was submitted to (through its active referral) records the registration."""
from __future__ import annotations

import datetime as dt

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from .. import access, audit
from ..auth.models import Organisation
from ..choices import options
from ..entries import StaleEdit, load_entry, load_person, mark_conflict
from ..extensions import db
from ..sections import FileSection, register, shared
from . import residence, service
from .forms import ApplicationForm, RegistrationForm, SubmissionForm
from .models import Placement, ResidenceApplication
from .views import _add_errors, placements_bp


def _residence_summary(person):
    # The placement card asked the same (sections.shared).
    application = shared(person, residence.current_application, ResidenceApplication)
    return {"application": application,
            "residence": residence.state_of(person, application, shared(person, service.stays_of, Placement, []))}


register(FileSection("residence", _l("Residence registration"), "placements.residence_for_person", order=35,
                     summary_template="placements/_residence_summary.html", load=_residence_summary,
                     rows_in=(Placement, ResidenceApplication),
                     empty=lambda person: {"application": None, "residence": residence.state_of(person, None, [])}))


def _require_civil_affairs(person) -> None:
    """Drafting and submitting are civil affairs' acts (民政部门提交落户申请), not the police's."""
    access.require(current_user, "write", person, "residence")
    if not access.NAMED_RULES["civil_affairs"].allows(current_user):
        audit.record_now("denied", object_type="person", object_id=person.id, section="residence",
                         details={"action": "write", "status": 403, "step": request.endpoint})
        abort(403)


def _require_registering_police(application, person) -> None:
    """Registration is recorded by the police station the application was submitted to."""
    access.require(current_user, "write", person, "residence")
    if current_user.role != "police" or application.police_organisation_id != current_user.organisation_id:
        audit.record_now("denied", object_type="person", object_id=person.id, section="residence",
                         details={"action": "write", "status": 403, "step": request.endpoint})
        abort(403)


@placements_bp.route("/residence/")
@access.route("residence")
def residence_list():
    access.require(current_user, "read", None, "residence")
    rows = residence.residence_rows(current_user)
    counts = residence.counts(rows)
    state = request.args.get("state")
    if state in residence.LIST_ORDER:
        rows = [r for r in rows if r.status.state == state]
    size = current_app.config["PAGE_SIZE"]
    pages = max(1, -(-len(rows) // size))
    page = min(max(1, request.args.get("page", 1, type=int) or 1), pages)
    shown = residence.attach_people(rows[(page - 1) * size: page * size])
    audit.record("list", object_type="person", section="residence",
                 details={"results": len(rows), "state": state or "all"})
    db.session.commit()
    return render_template("placements/residence_list.html", rows=shown, counts=counts, total=len(rows),
                           state=state, page=page, pages=pages, order=residence.LIST_ORDER)


def _page(person, **forms):
    application = residence.current_application(person)
    status = residence.state_of(person, application)
    is_civil = access.SCOPE.get(current_user.role) == "subtree" and \
        access.can(current_user, "write", person, "residence") and person.status == "open"
    is_police = current_user.role == "police" and application is not None and \
        application.police_organisation_id == current_user.organisation_id and \
        access.can(current_user, "write", person, "residence")
    if application is not None and "submit_form" not in forms:
        forms["submit_form"] = SubmissionForm(formdata=None, data={"version": application.version,
                                                                   "submitted_on": dt.date.today()})
    if application is not None and "register_form" not in forms:
        forms["register_form"] = RegistrationForm(formdata=None, data={"version": application.version})
    if "submit_form" in forms:
        forms["submit_form"].police_organisation_id.choices = options(
            (o.id, o.name) for o in residence.police_organisations())
    return render_template("placements/residence.html", person=person, application=application, residence=status,
                           can_draft=is_civil and application is None and status.state in ("not_due", "due", "overdue"),
                           is_civil=is_civil, is_police=is_police, **forms)


@placements_bp.route("/people/<person_id>/residence")
@access.route("residence", person="person_id")
def residence_for_person(person_id: str):
    person = load_person(person_id, "read", "residence")
    audit.record("view", object_type="person", object_id=person.id, section="residence")
    db.session.commit()
    return _page(person)


@placements_bp.route("/people/<person_id>/residence/draft", methods=["GET", "POST"])
@access.route("residence", "write", person="person_id", named="civil_affairs")
def draft(person_id: str):
    person = load_person(person_id, "write", "residence")
    _require_civil_affairs(person)
    stays = service.stays_of(person)
    status = residence.state_of(person, residence.current_application(person), stays)
    form = ApplicationForm(data=None if request.method == "POST" else residence.prefill(person, status, stays))
    if form.validate_on_submit():
        try:
            residence.draft(person, form.data, current_user)
            db.session.commit()
        except residence.ResidenceRefused as exc:
            db.session.rollback()
            _add_errors(form, exc.errors)
        else:
            flash(_("Application drafted. Check it, then record its submission to public security."), "success")
            return redirect(url_for("placements.residence_for_person", person_id=person.id))
    return render_template("placements/application_form.html", form=form, person=person, residence=status,
                           application=None)


def _application_data(application) -> dict:
    data = {f: getattr(application, f) for f in residence.APPLICATION_FIELDS}
    if not application.birth_date_estimated:
        data["birth_year"] = None
    data["version"] = application.version
    return data


@placements_bp.route("/residence/applications/<application_id>/edit", methods=["GET", "POST"])
@access.route("residence", "write", person="application_id", named="civil_affairs")
def edit_application(application_id: str):
    application, person = load_entry(ResidenceApplication, application_id, "write", "residence")
    _require_civil_affairs(person)
    form = ApplicationForm(data=None if request.method == "POST" else _application_data(application))
    status = residence.state_of(person, application)
    if application.status != "drafted":
        if request.method == "POST":  # submitted or withdrawn meanwhile: a conflict, the input kept
            mark_conflict(form, ResidenceApplication, application)
            return render_template("placements/application_form.html", form=form, person=person,
                                   residence=status, application=application, conflict=True), 409
        return redirect(url_for("placements.residence_for_person", person_id=person.id))
    if form.validate_on_submit():
        try:
            changes = residence.update(application, form.data, current_user, form.version.data)
            db.session.commit()
        except residence.ResidenceRefused as exc:
            db.session.rollback()
            _add_errors(form, exc.errors)
        except (StaleEdit, StaleDataError):
            mark_conflict(form, ResidenceApplication, application)
            return render_template("placements/application_form.html", form=form, person=person,
                                   residence=status, application=application, conflict=True), 409
        else:
            flash(_("Saved.") if changes else _("Nothing was changed."), "success")
            return redirect(url_for("placements.residence_for_person", person_id=person.id))
    return render_template("placements/application_form.html", form=form, person=person, residence=status,
                           application=application)


# The application's status each step starts from (its form is shown only then).
STEP_FROM = {"submit_form": "drafted", "register_form": "submitted"}


def _step(application_id: str, form, act, check):
    """Run one step of a submitted form on the person's residence page; errors re-render the page."""
    application, person = load_entry(ResidenceApplication, application_id, "write", "residence")
    check(application, person)
    if application.status != STEP_FROM[form.page_key]:  # a second tab, or the step was taken already
        if form.is_submitted() and str(form.version.data) != str(application.version):
            return _step_conflict(form, application, person)  # by someone else since the page was read
        flash(_("This step was already taken, or no longer applies to this application."), "error")
        return redirect(url_for("placements.residence_for_person", person_id=person.id))
    if form.validate_on_submit():
        try:
            message = act(application, person, form)
            db.session.commit()
        except residence.ResidenceRefused as exc:
            db.session.rollback()
            _add_errors(form, exc.errors)
            if "form" in exc.errors:  # the step no longer applies, so its form is not on the page
                flash(exc.errors["form"], "error")
        except (StaleEdit, StaleDataError):
            return _step_conflict(form, application, person)
        else:  # flashed only once committed: a save refused at commit must not say "recorded"
            flash(message, "success")
            return redirect(url_for("placements.residence_for_person", person_id=person.id))
    return _page(person, **{form.page_key: form})


def _step_conflict(form, application, person):
    """Someone else changed the application after the page was read: 409, their change named on top
    (the step's form is gone from the page if they took the step)."""
    mark_conflict(form, ResidenceApplication, application)
    for message in form.form_errors:
        flash(message, "error")
    form.form_errors.clear()
    return _page(person, **{form.page_key: form}), 409


@placements_bp.route("/residence/applications/<application_id>/submit", methods=["POST"])
@access.route("residence", "write", person="application_id", named="civil_affairs")
def submit(application_id: str):
    form = SubmissionForm()
    form.page_key = "submit_form"
    form.police_organisation_id.choices = options((o.id, o.name) for o in residence.police_organisations())

    def act(application, person, form):
        residence.submit(application, person, db.session.get(Organisation, form.police_organisation_id.data),
                         form.submitted_on.data, current_user, form.version.data)
        return _("Submission recorded. The police station now sees the application in its referrals.")
    return _step(application_id, form, act, lambda a, p: _require_civil_affairs(p))


@placements_bp.route("/residence/applications/<application_id>/register", methods=["POST"])
@access.route("residence", "write", person="application_id", named="registering_police")
def register_hukou(application_id: str):
    form = RegistrationForm()
    form.page_key = "register_form"

    def act(application, person, form):
        residence.register(application, form.registered_on.data, form.hukou_number.data, current_user,
                           form.version.data)
        return _("Registration recorded.")
    return _step(application_id, form, act, _require_registering_police)


@placements_bp.route("/residence/applications/<application_id>/withdraw", methods=["POST"])
@access.route("residence", "write", person="application_id", named="civil_affairs")
def withdraw(application_id: str):
    application, person = load_entry(ResidenceApplication, application_id, "write", "residence")
    _require_civil_affairs(person)
    try:
        residence.withdraw(application, current_user, request.form.get("version"))
        db.session.commit()
        flash(_("Draft withdrawn."), "success")
    except (residence.ResidenceRefused, StaleEdit, StaleDataError):
        db.session.rollback()
        flash(_("The application was not withdrawn: it is no longer a draft, or someone changed it."), "error")
    return redirect(url_for("placements.residence_for_person", person_id=person.id))
