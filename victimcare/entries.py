"""What every dated entry of a person's file shares: columns, change tracking, history, loading.

A section module's entry model mixes in ``EntryMixin``; its operations call ``apply_changes`` and
``record_change`` so the history page and the audit trail see every section the same way."""
from __future__ import annotations

import datetime as dt
import json

from flask import abort
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import DateTime, ForeignKey, Integer, String, or_, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from . import access, audit
from .auth.models import utcnow
from .crypto import id_column, new_row_id, plausible_row_id
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


def mark_conflict(form, model, entry, fields: dict | None = None):
    """After a stale save (StaleEdit or StaleDataError): undo it, say so above the kept input, name
    the other user's change, and carry the current version so that saving again is a deliberate
    overwrite. ``entry``: its id, or the entry itself (after a failed flush its attributes cannot be
    read until the rollback, but its identity can). Returns the entry as it is now."""
    entry_id = entry if isinstance(entry, str) else sa_inspect(entry).identity[0]
    db.session.rollback()
    current = db.session.get(model, entry_id)
    form.form_errors.append(CONFLICT_MESSAGE)
    their = describe_latest_change(current, form, fields)
    if their:
        form.form_errors.append(their)
    if hasattr(form, "version"):
        form.version.data = current.version
    return current


def describe_latest_change(obj, form=None, fields: dict | None = None) -> str | None:
    """Who last changed ``obj`` (a person's own sections, or an entry), when, and what: the fields
    by their form labels with the new values, so a user whose save was refused sees what came first.
    ``fields`` names what the form lacks: {name: (label, {value: label})}."""
    from .people.models import Person, PersonRevision
    from .web import format_datetime
    query = select(PersonRevision)
    if isinstance(obj, Person):  # identity, DNA and the file's status all bump the person's version
        query = query.where(PersonRevision.person_id == obj.id,
                            or_(PersonRevision.entry_id.is_(None), PersonRevision.section == "case"))
    else:
        query = query.where(PersonRevision.entry_id == obj.id)
    revision = db.session.scalars(query.order_by(PersonRevision.changed_at.desc()).limit(1)).first()
    if revision is None:
        return None
    who = revision.changed_by
    changes = json.loads(revision.changes or "{}")
    known = dict(fields or {})
    shown = [n for n in changes if n in known or (form is not None and n in form)] or list(changes)
    return gettext("Saved meanwhile by %(who)s at %(when)s: %(fields)s",
                   who=(who.display_name or who.username) if who else "—",
                   when=format_datetime(revision.changed_at),
                   fields="; ".join(_describe_field(form, known, n, changes[n][-1]) for n in shown))


def _describe_field(form, known: dict, name: str, value) -> str:
    field = form[name] if form is not None and name in form else None
    if field is not None:
        label = field.label.text
        value = next((c.label for c in getattr(field, "choices", None) or () if str(c.value) == str(value)),
                     value)
    else:
        label, values = known.get(name, (name, {}))
        value = values.get(value, value) if isinstance(value, str) else value
    text = "—" if value in (None, "", []) else str(value)
    return f"{label} → {text[:80] + '…' if len(text) > 80 else text}"


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


def load_person(person_id: str, action: str = "read", section: str = "identity", options=()):
    """Load a person, then ask the policy: 404 outside scope, 403 for a forbidden section; audited.
    ``options`` are loader options for what the page will read of the person (joined in the same query)."""
    from .people.models import Person
    person = db.session.get(Person, person_id, options=options) if plausible_row_id(person_id) else None
    if person is None:
        abort(404)
    access.require(current_user, action, person, section)
    return person


def load_entry(model, entry_id: str, action: str, section: str):
    """Load an entry and its person, with the same checks as load_person."""
    entry = db.session.get(model, entry_id) if plausible_row_id(entry_id) else None
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
