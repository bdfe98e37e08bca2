"""School re-entry operations and the enrolment ledger (入学安置台账, Jiangsu 2021–2030 二(三)2(1))."""
from __future__ import annotations

from sqlalchemy import bindparam, func, select

from .. import access
from ..auth.models import Organisation
from ..entries import apply_changes, check_version, new_entry, record_change
from ..extensions import db
from ..people.models import Person
from ..referrals.models import Referral
from ..sections import prepared
from .models import FIELDS, SchoolEnrolment


def entries_of(person) -> list[SchoolEnrolment]:
    return db.session.scalars(prepared(_entries_query), {"person_id": person.id}).all()


def _entries_query():
    return (select(SchoolEnrolment).where(SchoolEnrolment.person_id == bindparam("person_id"))
            .order_by(SchoolEnrolment.enrolment_date.desc(), SchoolEnrolment.created_at.desc()))


def create(person, data: dict, user) -> SchoolEnrolment:
    entry = new_entry(SchoolEnrolment, person, user, office_id=user.organisation_id)
    changes = apply_changes(entry, data, FIELDS)
    db.session.flush()
    record_change(person.id, "schooling", changes, user, entry=entry, action="create")
    return entry


def update(entry: SchoolEnrolment, data: dict, user, version) -> dict:
    check_version(entry, version)
    changes = apply_changes(entry, data, FIELDS)
    if changes:
        db.session.flush()
        record_change(entry.person_id, "schooling", changes, user, entry=entry)
    return changes


def ledger_people(user):
    """Ids of the people whose enrolments the user's ledger lists: for a partner office the people
    actively referred to it (a pending referral opens only the minimal identity), for the others
    the people in their organisation subtree."""
    if access.SCOPE.get(user.role) == "referral":
        return select(Referral.person_id).where(Referral.organisation_id == user.organisation_id,
                                                Referral.status == "active")
    return access.scoped_people(user).with_only_columns(Person.id)


def ledger(user, page: int, size: int):
    query = (select(SchoolEnrolment).join(Organisation, SchoolEnrolment.office_id == Organisation.id)
             .where(SchoolEnrolment.person_id.in_(ledger_people(user))))
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    rows = db.session.scalars(query.order_by(Organisation.name, SchoolEnrolment.enrolment_date.desc(),
                                             SchoolEnrolment.id).offset((page - 1) * size).limit(size)).all()
    return rows, total
