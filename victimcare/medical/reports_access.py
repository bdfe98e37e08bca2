"""Who may file and who may read suspected-trafficking reports (强制报告, Jiangsu 2021-2030 二(一)5).

access.py has no section for reports: this is the whole rule, in one place, so that it can move into
access.py unchanged. Filing goes by the kind of the user's organisation (hospitals, schools and
shelters must report); reading by the report's two ends: the police station it is addressed to, and
the organisation that filed it. Nobody else: not managers, auditors, administrators or other stations."""
from __future__ import annotations

from sqlalchemy import false, or_

REPORTING_KINDS = ("hospital", "school_office", "shelter")


def _active(user) -> bool:
    return user is not None and user.is_authenticated and user.active and user.organisation.active


def may_file(user) -> bool:
    return _active(user) and user.organisation.kind in REPORTING_KINDS


def is_station(user) -> bool:
    """A police officer of a police station: the receiving end."""
    return _active(user) and user.role == "police" and user.organisation.kind == "police"


def report_role(user, report) -> str | None:
    """"police" (the addressed station), "reporter" (the filing organisation) or None (no access)."""
    if not _active(user):
        return None
    if is_station(user) and report.police_organisation_id == user.organisation_id:
        return "police"
    if report.reporter_organisation_id == user.organisation_id:
        return "reporter"
    return None


def visible_reports(user):
    """A where-clause on TraffickingReport with exactly the reports ``report_role`` lets the user read."""
    from .models import TraffickingReport
    if not _active(user):
        return false()
    clauses = [TraffickingReport.reporter_organisation_id == user.organisation_id]
    if is_station(user):
        clauses.append(TraffickingReport.police_organisation_id == user.organisation_id)
    return or_(*clauses)
