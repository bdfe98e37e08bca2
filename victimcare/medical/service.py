"""Operations of the medical section and of the suspected-trafficking reports.

Each write keeps history (record_change: encrypted revision + audit row) or, for reports, an
update row plus an audit row. Views call these; they never set model attributes themselves."""
from __future__ import annotations

from sqlalchemy import bindparam, func, select

from .. import access, audit
from ..auth.models import Organisation, utcnow
from ..entries import apply_changes, check_version, new_entry, plain, record_change
from ..extensions import db
from ..sections import prepared
from . import rules
from .models import DisabilityAssessment, MedicalVisit, ReportUpdate, TraffickingReport

VISIT_FIELDS = ("visit_date", "visit_type", "diagnosis", "notes", "total_cost", "insurance_paid", "self_pay")
ASSESSMENT_FIELDS = ("category", "grade", "institution", "assessed_on", "notes")
REPORT_FIELDS = ("observed_on", "observed_time", "place", "victim_description", "circumstances",
                 "reporter_contact")


class NotYourHospital(Exception):
    """An entry recorded by another hospital: its costs belong to that hospital's ledger."""


def _visit_values(data: dict) -> dict:
    values = {k: data[k] for k in VISIT_FIELDS if k in data}
    values["self_pay"] = rules.self_pay(data["total_cost"], data["insurance_paid"])
    return values


def _created(values: dict) -> dict:
    return {k: [None, plain(v)] for k, v in values.items() if v not in (None, "")}


# -- medical visits ------------------------------------------------------------
def add_visit(person, data: dict, user) -> MedicalVisit:
    values = _visit_values(data)
    visit = new_entry(MedicalVisit, person, user, organisation_id=user.organisation_id)
    for key, value in values.items():
        setattr(visit, key, value.strip() or None if isinstance(value, str) else value)
    db.session.flush()
    record_change(person.id, "medical", _created(values), user, entry=visit, action="create")
    return visit


def update_visit(visit: MedicalVisit, data: dict, user, version) -> dict:
    if visit.organisation_id != user.organisation_id:
        raise NotYourHospital()
    check_version(visit, version)
    changes = apply_changes(visit, _visit_values(data), VISIT_FIELDS)
    record_change(visit.person_id, "medical", changes, user, entry=visit)
    return changes


def visits_of(person) -> list[MedicalVisit]:
    return db.session.scalars(prepared(_visits_query), {"person_id": person.id}).all()


def _visits_query():
    return (select(MedicalVisit).where(MedicalVisit.person_id == bindparam("person_id"))
            .order_by(MedicalVisit.visit_date.desc(), MedicalVisit.created_at.desc()))


# -- disability assessments ------------------------------------------------------
def add_assessment(person, data: dict, user) -> DisabilityAssessment:
    values = {k: data[k] for k in ASSESSMENT_FIELDS}
    entry = new_entry(DisabilityAssessment, person, user, organisation_id=user.organisation_id)
    for key, value in values.items():
        setattr(entry, key, value.strip() or None if isinstance(value, str) else value)
    db.session.flush()
    record_change(person.id, "medical", {"disability_assessment": [None, f"{values['category']} {values['grade']}"],
                                         **_created(values)}, user, entry=entry, action="create")
    return entry


def update_assessment(entry: DisabilityAssessment, data: dict, user, version) -> dict:
    if entry.organisation_id != user.organisation_id:
        raise NotYourHospital()
    check_version(entry, version)
    changes = apply_changes(entry, data, ASSESSMENT_FIELDS)
    record_change(entry.person_id, "medical", changes, user, entry=entry)
    return changes


def assessments_of(person) -> list[DisabilityAssessment]:
    return db.session.scalars(prepared(_assessments_query), {"person_id": person.id}).all()


def _assessments_query():
    return (select(DisabilityAssessment).where(DisabilityAssessment.person_id == bindparam("person_id"))
            .order_by(DisabilityAssessment.assessed_on.desc()))


# -- suspected-trafficking reports -------------------------------------------------
def police_stations() -> list[Organisation]:
    return db.session.scalars(select(Organisation).where(Organisation.kind == "police",
                                                         Organisation.active.is_(True))
                              .order_by(Organisation.name)).all()


def file_report(data: dict, station: Organisation, user, person=None) -> TraffickingReport:
    if not access.may_file_report(user) or station.kind != "police" or not station.active:
        raise PermissionError("may not file this report")
    report = TraffickingReport(reporter_organisation_id=user.organisation_id,
                               police_organisation_id=station.id, person_id=getattr(person, "id", None),
                               created_by_id=user.id, status="submitted", created_at=utcnow())
    for key in REPORT_FIELDS:
        setattr(report, key, data.get(key))
    db.session.add(report)
    db.session.flush()
    audit.record("create", object_type="trafficking_report", object_id=report.id, section="reports",
                 details={"police_organisation": station.id, "linked_person": person is not None})
    return report


def mark_read(report: TraffickingReport, user) -> None:
    """The station has opened it: no longer marked new in its work list."""
    if report.read_at is None and access.report_role(user, report) == "police":
        report.read_at = utcnow()
        report.read_by_id = user.id


def next_steps(report: TraffickingReport) -> tuple[str, ...]:
    """Steps go forward only: submitted -> acknowledged -> investigating (or straight to investigating)."""
    return {"submitted": ("acknowledged", "investigating"), "acknowledged": ("investigating",)}.get(
        report.status, ())


def take_step(report: TraffickingReport, status: str, note: str, user, version) -> ReportUpdate:
    if access.report_role(user, report) != "police":
        raise PermissionError("only the addressed station acts on a report")
    check_version(report, version)
    if status not in next_steps(report):
        raise ValueError("not a next step")
    old = report.status
    update = ReportUpdate(report_id=report.id, status=status, created_by_id=user.id, created_at=utcnow())
    update.note = note
    db.session.add(update)
    report.status = status
    if report.read_at is None:
        mark_read(report, user)
    db.session.flush()
    audit.record("update", object_type="trafficking_report", object_id=report.id, section="reports",
                 details={"status": [old, status]})
    return update


def reports_for(user) -> list[TraffickingReport]:
    """Newest first: the station's work list, or the reporting organisation's own reports."""
    return db.session.scalars(select(TraffickingReport).where(access.visible_reports(user))
                              .order_by(TraffickingReport.created_at.desc())).all()


def new_reports_count(user) -> int:
    """For the home page: reports to the user's station that nobody there has opened yet."""
    if not access.is_police_station(user):
        return 0
    return db.session.scalar(select(func.count()).select_from(TraffickingReport).where(
        TraffickingReport.police_organisation_id == user.organisation_id,
        TraffickingReport.read_at.is_(None))) or 0
