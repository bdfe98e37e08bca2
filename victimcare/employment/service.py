"""Training-and-jobs operations: record a service, update it with history."""
from __future__ import annotations

from sqlalchemy import bindparam, select

from ..entries import apply_changes, check_version, new_entry, record_change
from ..extensions import db
from ..sections import prepared
from .models import FIELDS, EmploymentService


def entries_of(person) -> list[EmploymentService]:
    return db.session.scalars(prepared(_entries_query), {"person_id": person.id}).all()


def _entries_query():
    return (select(EmploymentService).where(EmploymentService.person_id == bindparam("person_id"))
            .order_by(EmploymentService.start_date.desc(), EmploymentService.created_at.desc()))


def create(person, data: dict, user) -> EmploymentService:
    entry = new_entry(EmploymentService, person, user, office_id=user.organisation_id)
    changes = apply_changes(entry, data, FIELDS)
    db.session.flush()
    record_change(person.id, "employment", changes, user, entry=entry, action="create")
    return entry


def update(entry: EmploymentService, data: dict, user, version) -> dict:
    check_version(entry, version)
    changes = apply_changes(entry, data, FIELDS)
    if changes:
        db.session.flush()
        record_change(entry.person_id, "employment", changes, user, entry=entry)
    return changes
