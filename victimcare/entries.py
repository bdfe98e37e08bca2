"""What every dated entry of a person's file shares: columns, change tracking, history, loading.

A section module's entry model mixes in ``EntryMixin``; its operations call ``apply_changes`` and
``record_change`` so the history page and the audit trail see every section the same way."""
from __future__ import annotations

import datetime as dt
import json

from flask import abort
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import DateTime, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from . import access, audit
from .auth.models import utcnow
from .crypto import id_column, new_row_id
from .extensions import db


class EntryMixin:
    """id (random, known before insert: it is in the encryption's associated data), person,
    optimistic-lock version, who and when."""
    id: Mapped[str] = id_column()
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    @declared_attr
    def person_id(cls) -> Mapped[str]:
        return mapped_column(String(32), ForeignKey("person.id"), index=True)

    @declared_attr
    def created_by_id(cls) -> Mapped[int | None]:
        return mapped_column(ForeignKey("user_account.id"))

    @declared_attr
    def __mapper_args__(cls):
        return {"version_id_col": cls.version}


class StaleEdit(Exception):
    """Someone else saved this after the form was opened."""


CONFLICT_MESSAGE = _l("Someone else saved this entry after you opened the form. Your input is kept below; "
                      "check the current entry, then save again.")


def mark_conflict(form, model, entry_id: str) -> None:
    """After a stale save (StaleEdit or StaleDataError): undo it, say so above the kept input, and
    carry the current version so that saving again is a deliberate overwrite."""
    db.session.rollback()
    form.form_errors.append(CONFLICT_MESSAGE)
    form.version.data = db.session.get(model, entry_id).version


def check_version(obj, version) -> None:
    if str(version) != str(obj.version):
        raise StaleEdit()


def plain(value):
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if hasattr(value, "as_tuple"):  # Decimal
        return str(value)
    return value


def apply_changes(obj, data: dict, attrs) -> dict:
    """Set attributes from data; return {attr: [old, new]} for what changed."""
    changes = {}
    for attr in attrs:
        if attr not in data:
            continue
        new = data[attr]
        if isinstance(new, str):
            new = new.strip() or None
        old = getattr(obj, attr)
        if plain(old) != plain(new):
            changes[attr] = [plain(old), plain(new)]
            setattr(obj, attr, new)
    return changes


def record_change(person_id: str, section: str, changes: dict, user, *, entry=None,
                  action: str = "update") -> None:
    """A revision (old and new values, encrypted) and an audit row (field names only)."""
    from .people.models import PersonRevision
    if not changes:
        return
    revision = PersonRevision(id=new_row_id(), person_id=person_id, section=section,
                              changed_by_id=getattr(user, "id", None), changed_at=utcnow(),
                              entry_id=getattr(entry, "id", None))
    revision.changes = json.dumps(changes, ensure_ascii=False)
    db.session.add(revision)
    details = {"fields": sorted(changes)}
    if entry is not None:
        details["entry"] = entry.id
    audit.record(action, object_type="person", object_id=person_id, section=section, details=details,
                 user=user)


def new_entry(model, person, user, **values):
    """An entry with its id set first (it is bound into every encrypted value)."""
    entry = model(id=new_row_id(), person_id=person.id, created_by_id=getattr(user, "id", None), **values)
    db.session.add(entry)
    return entry


def load_person(person_id: str, action: str = "read", section: str = "identity"):
    """Load a person, then ask the policy: 404 outside scope, 403 for a forbidden section; audited."""
    from .people.models import Person
    person = db.session.get(Person, person_id) if len(person_id) <= 32 else None
    if person is None:
        abort(404)
    access.require(current_user, action, person, section)
    return person


def load_entry(model, entry_id: str, action: str, section: str):
    """Load an entry and its person, with the same checks as load_person."""
    entry = db.session.get(model, entry_id) if len(entry_id) <= 32 else None
    if entry is None:
        abort(404)
    person = load_person(entry.person_id, action, section)
    return entry, person


def require_open(person) -> None:
    """A closed file stays readable but takes no new entries or changes (DOMAIN.md section 9)."""
    if person.status != "open":
        abort(409)


def require_own_organisation(entry, section: str, owner: str = "office_id") -> None:
    """Only the organisation that wrote an entry changes it (a hospital's costs are on its own
    ledger, a legal-aid centre answers for its own case); others in scope get 403, audited."""
    if getattr(entry, owner) != current_user.organisation_id:
        audit.record_now("denied", object_type="person", object_id=entry.person_id, section=section,
                         details={"action": "write", "entry": entry.id, "status": 403,
                                  "reason": "other_organisation"})
        abort(403)
