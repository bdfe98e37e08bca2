"""Legal-aid operations: record an application, update it with history. Views call these."""
from __future__ import annotations

from sqlalchemy import bindparam, select

from ..auth.models import Organisation
from ..entries import apply_changes, check_version, new_entry, record_change
from ..extensions import db
from ..sections import prepared
from .models import FIELDS, LegalAid


def agencies() -> list[Organisation]:
    return db.session.scalars(select(Organisation).where(Organisation.kind == "legal_aid",
                                                         Organisation.active.is_(True))
                              .order_by(Organisation.name)).all()


def entries_of(person) -> list[LegalAid]:
    return db.session.scalars(prepared(_entries_query), {"person_id": person.id}).all()


def _entries_query():
    return (select(LegalAid).where(LegalAid.person_id == bindparam("person_id"))
            .order_by(LegalAid.application_date.desc(), LegalAid.created_at.desc()))


def create(person, data: dict, user) -> LegalAid:
    entry = new_entry(LegalAid, person, user, office_id=user.organisation_id)
    changes = apply_changes(entry, data, FIELDS)
    db.session.flush()
    record_change(person.id, "legal", changes, user, entry=entry, action="create")
    return entry


def update(entry: LegalAid, data: dict, user, version) -> dict:
    check_version(entry, version)
    changes = apply_changes(entry, data, FIELDS)
    if changes:
        db.session.flush()
        record_change(entry.person_id, "legal", changes, user, entry=entry)
    return changes
