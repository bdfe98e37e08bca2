"""Suspected-trafficking reports (强制报告, Jiangsu 2021-2030 二(一)5): hospitals, schools and shelters
file them to a police station; the station sees them at once in its work list and records its steps.
Who may do what is access.py (the reports rules); every view, creation and step is audited."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from .. import access, audit
from ..choices import options
from ..crypto import plausible_row_id
from ..extensions import db
from ..people.models import Person
from ..entries import StaleEdit
from . import service
from .forms import ReportForm, ReportStepForm
from .models import TraffickingReport
from .views import medical_bp

_NO_FILE = _l("No file with this case number that your organisation can open.")


def _deny(status: int, report_id: str | None = None):
    audit.record_now("denied", object_type="trafficking_report", object_id=report_id, section="reports",
                     details={"status": status})
    abort(status)


@medical_bp.route("/reports/")
@access.signed_in(named="reports")
def reports():
    if not (access.may_file_report(current_user) or access.is_police_station(current_user)):
        _deny(403)
    rows = service.reports_for(current_user)
    audit.record("list", object_type="trafficking_report", section="reports", details={"results": len(rows)})
    db.session.commit()
    return render_template("medical/reports.html", reports=rows,
                           station=access.is_police_station(current_user),
                           may_file=access.may_file_report(current_user))


def _linked_person(case_number: str | None):
    """The file a report points to: only one the reporter can open (else it stays unlinked, and the
    message does not say whether the case number exists)."""
    if not case_number:
        return None
    if "\x00" in case_number:  # no case number has one, and PostgreSQL refuses it even in a query
        return False
    person = db.session.scalar(select(Person).where(Person.case_number == case_number.strip()))
    if person is None or not access.can(current_user, "read", person, "summary"):
        return False
    return person


@medical_bp.route("/reports/new", methods=["GET", "POST"])
@access.signed_in(named="file_report")
def new_report():
    if not access.may_file_report(current_user):
        _deny(403)
    form = ReportForm()
    stations = {o.id: o for o in service.police_stations()}
    form.police_organisation_id.choices = options(((i, o.name) for i, o in stations.items()), blank="—")
    if form.validate_on_submit():
        person = _linked_person(form.case_number.data)
        if person is False:
            form.case_number.errors.append(_NO_FILE)
        else:
            report = service.file_report(form.data, stations[form.police_organisation_id.data], current_user,
                                         person)
            db.session.commit()
            flash(_("Report sent to %(station)s. The station sees it in its work list now.",
                    station=report.police_organisation.name), "success")
            return redirect(url_for("medical.report", report_id=report.id))
    return render_template("medical/report_form.html", form=form)


def _load_report(report_id: str) -> tuple[TraffickingReport, str]:
    report = db.session.get(TraffickingReport, report_id) if plausible_row_id(report_id) else None
    role = access.report_role(current_user, report) if report is not None else None
    if role is None:
        _deny(404, report_id)
    return report, role


@medical_bp.route("/reports/<report_id>", methods=["GET", "POST"])
@access.signed_in(named="reports")
def report(report_id: str):
    report, role = _load_report(report_id)
    if not _posted():
        # Marked read before the form takes the version, so the first step is not a false conflict.
        try:
            service.mark_read(report, current_user)
            _audit_view(report, role)
        except StaleDataError:  # a colleague opened it at the same moment and marked it read first
            db.session.rollback()
            _audit_view(report, role)
    elif role != "police":
        _deny(403, report.id)
    form = ReportStepForm(data=None if _posted() else {"version": report.version})
    form.status.choices = [c for c in form.status.choices if c.value in service.next_steps(report)]
    if _posted() and str(form.version.data) != str(report.version):
        # Checked before the form: a step taken meanwhile also changes which steps are valid, and the
        # user must hear "someone else acted", not "not a valid choice".
        return _stale_step(report, role, form)
    if form.validate_on_submit():
        try:
            service.take_step(report, form.status.data, form.note.data, current_user, form.version.data)
            db.session.commit()
        except (StaleEdit, StaleDataError):
            return _stale_step(report, role, form)
        except ValueError:
            form.status.errors.append(_("This step has already been taken."))
        else:
            flash(_("Saved."), "success")
            return redirect(url_for("medical.report", report_id=report.id))
    return _render(report, role, form)


def _audit_view(report, role) -> None:
    audit.record("view", object_type="trafficking_report", object_id=report.id, section="reports",
                 details={"as": role})
    db.session.commit()


def _stale_step(report, role, form):
    db.session.rollback()
    form.form_errors.append(_("Someone else at the station recorded a step after you opened "
                              "this report. Your note is kept below; check the report, then save again."))
    form.version.data = db.session.get(TraffickingReport, report.id).version
    return _render(report, role, form), 409


def _posted() -> bool:
    return request.method == "POST"


def _render(report, role, form):
    linked = report.person if report.person_id else None
    return render_template("medical/report.html", report=report, role=role, form=form, linked=linked,
                           can_open_linked=linked is not None and access.can(current_user, "read", linked,
                                                                            "summary"))
