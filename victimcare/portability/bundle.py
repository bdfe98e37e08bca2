"""A person's complete file as plain data (export), and that data made into a new file here (import).

Built generically: the person, her aliases, every ``EntryMixin`` model (so a new section's entries
travel without changes here), the revisions, referrals and disclosures. Encrypted attributes are
found through ``crypto.ENCRYPTED_FIELDS`` and put in the payload decrypted (the bundle as a whole is
encrypted for the recipient); on import every value is re-encrypted under this installation's keys
and bound to new row ids. Only the sections the exporting user may read leave the installation.
"""
from __future__ import annotations

import datetime as dt
import decimal
import json

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from .. import access, audit
from ..auth.models import Organisation, User, utcnow
from ..crypto import ENCRYPTED_FIELDS, new_row_id
from ..entries import EntryMixin, plain, record_change
from ..extensions import db
from ..people.models import DNA_FIELDS, Person, PersonAlias, PersonRevision
from ..names import index_person
from ..people.service import next_case_number
from .transfer import BundleRefused

PAYLOAD_KIND = "person_file"
# The access section of each entry table. A table not named here is filed under its own name when
# that is a section, else under the module's name, else "case" (see section_of).
SECTION_OF_TABLE = {"placement": "placement", "residence_application": "residence", "medical_visit": "medical",
                    "disability_assessment": "medical", "legal_aid": "legal", "school_enrolment": "schooling",
                    "employment_service": "employment", "person_return": "followups",
                    "followup_visit": "followups", "case_status_change": "case", "referral": "referrals",
                    "disclosure": "disclosures"}
# Referrals name partner organisations of the origin installation and grant them access: they
# cannot become live referrals here, so they are kept as an origin record in the history.
NOT_IMPORTED_AS_ROWS = {"referral"}
# Where an organisation reference that cannot be kept (the organisation is not here) leaves its name.
ORG_NAME_FALLBACK = {("placement", "organisation_id"): "institution_name",
                     ("disclosure", "recipient_organisation_id"): "recipient_name"}
_SKIP_COLUMNS = {"id", "person_id", "version"}


def entry_models() -> list[type]:
    """Every section entry model, parents before children (foreign keys between entries)."""
    by_table = {m.class_.__tablename__: m.class_ for m in db.Model.registry.mappers
                if issubclass(m.class_, EntryMixin)}
    return [by_table[t.name] for t in db.metadata.sorted_tables if t.name in by_table]


def section_of(model) -> str:
    table = model.__tablename__
    if table in SECTION_OF_TABLE:
        return SECTION_OF_TABLE[table]
    if table in access.SECTIONS:
        return table
    module = model.__module__.split(".")[1] if "." in model.__module__ else ""
    return module if module in access.SECTIONS else "case"


def _encrypted_fields(model):
    return [f for owner, f in ENCRYPTED_FIELDS if owner is model]


def _plain_columns(model):
    return [c for c in model.__table__.columns
            if not c.name.endswith("_enc") and not c.name.endswith("_bidx")]


def _foreign_table(column) -> str | None:
    keys = list(column.foreign_keys)
    return keys[0].column.table.name if keys else None


def serialise(obj) -> dict:
    """One row: plain columns, decrypted attributes, and the names behind organisation/user ids."""
    model = type(obj)
    values, names = {}, {}
    for column in _plain_columns(model):
        value = getattr(obj, column.key)
        values[column.name] = plain(value)
        target = _foreign_table(column)
        if value is not None and target == "organisation":
            names[column.name] = db.session.get(Organisation, value).name
        elif value is not None and target == "user_account":
            user = db.session.get(User, value)
            names[column.name] = user.username if user else None
    encrypted = {f.name: plain(getattr(obj, f.name)) for f in _encrypted_fields(model)}
    return {"values": values, "encrypted": encrypted, "names": names}


def build_payload(person: Person, user) -> tuple[dict, list[str]]:
    """The payload and the sections it holds (only those ``user`` may read)."""
    readable = [s for s in access.SECTIONS if access.can(user, "read", person, s)]
    if "identity" not in readable:
        raise PermissionError("identity")
    row = serialise(person)
    if "dna" not in readable:
        for name in DNA_FIELDS:
            row["values"].pop(name, None)
            row["encrypted"].pop(name, None)
    aliases = db.session.scalars(select(PersonAlias).where(PersonAlias.person_id == person.id)
                                 .order_by(PersonAlias.created_at)).all()
    entries = {}
    for model in entry_models():
        if section_of(model) not in readable:
            continue
        rows = db.session.scalars(select(model).where(model.person_id == person.id)
                                  .order_by(model.created_at)).all()
        entries[model.__tablename__] = [serialise(r) for r in rows]
    revisions = db.session.scalars(select(PersonRevision).where(PersonRevision.person_id == person.id,
                                                                PersonRevision.section.in_(readable))
                                   .order_by(PersonRevision.changed_at)).all()
    sections = sorted({"identity", *(section_of(m) for m in entry_models() if m.__tablename__ in entries),
                       *(r.section for r in revisions)} & set(readable))
    payload = {"kind": PAYLOAD_KIND, "exported_at": utcnow().isoformat(),
               "origin": {"organisation": person.organisation.name, "case_number": person.case_number,
                          "exported_by": user.username},
               "sections": sections, "person": row,
               "aliases": [serialise(a) for a in aliases], "entries": entries,
               "revisions": [serialise(r) for r in revisions]}
    return payload, sections


# -- import -------------------------------------------------------------------------------
def _value(column, raw):
    """A plain JSON value back to the column's Python type; ValueError when it does not fit."""
    if raw is None:
        return None
    kind = column.type.python_type
    if kind is bool:
        if not isinstance(raw, bool):
            raise ValueError(column.name)
        return raw
    if kind is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ValueError(column.name)
        return raw
    if not isinstance(raw, str):
        raise ValueError(column.name)
    if kind is dt.datetime:
        return dt.datetime.fromisoformat(raw)
    if kind is dt.date:
        return dt.date.fromisoformat(raw)
    if kind is dt.time:
        return dt.time.fromisoformat(raw)
    if kind is decimal.Decimal:
        return decimal.Decimal(raw)
    return raw


def _encrypted_value(field, raw):
    if raw is None:
        return None
    if not isinstance(raw, str):
        raise ValueError(field.name)
    return dt.date.fromisoformat(raw) if field.kind is dt.date else raw


def _fill(obj, row: dict, *, id_map: dict, organisation: Organisation) -> None:
    """Copy a serialised row onto a new object whose id and person are already set."""
    model = type(obj)
    values, names = row.get("values") or {}, row.get("names") or {}
    for column in _plain_columns(model):
        if column.name in _SKIP_COLUMNS or column.name not in values:
            continue
        target = _foreign_table(column)
        raw = values[column.name]
        if target == "user_account":
            value = None  # users of the origin installation do not exist here
        elif target == "organisation":
            # The origin's organisations are not here: the receiving organisation answers for
            # entries that must name one; optional references are dropped (the name is kept).
            value = None if (column.nullable or raw is None) else organisation.id
            fallback = ORG_NAME_FALLBACK.get((model.__tablename__, column.name))
            if raw is not None and fallback and not (row.get("encrypted") or {}).get(fallback):
                setattr(obj, fallback, names.get(column.name))
        elif target is not None or column.name == "entry_id":
            value = id_map.get(raw) if raw is not None else None
            if value is None and raw is not None and not column.nullable:
                raise ValueError(column.name)
        else:
            value = _value(column, raw)
        setattr(obj, column.key, value)
    for field in _encrypted_fields(model):
        encrypted = row.get("encrypted") or {}
        if field.name in encrypted and encrypted[field.name] is not None:
            setattr(obj, field.name, _encrypted_value(field, encrypted[field.name]))


def import_payload(payload: dict, organisation: Organisation, user, *, sender, bundle_digest: str,
                   today: dt.date | None = None) -> Person:
    """Create the person and her history in ``organisation``; the caller commits (or rolls back)."""
    if payload.get("kind") != PAYLOAD_KIND or not isinstance(payload.get("person"), dict):
        raise BundleRefused("content")
    try:
        return _import(payload, organisation, user, sender, bundle_digest, today or dt.date.today())
    except (ValueError, TypeError, AttributeError, KeyError, decimal.InvalidOperation, SQLAlchemyError):
        db.session.rollback()
        raise BundleRefused("content") from None


def _import(payload, organisation, user, sender, bundle_digest, today) -> Person:
    person = Person(id=new_row_id(), organisation_id=organisation.id, created_by_id=user.id)
    person.case_number = next_case_number(organisation.region_code, today.year)
    id_map: dict = {}
    _fill(person, {**payload["person"], "values": {
        k: v for k, v in (payload["person"].get("values") or {}).items()
        if k not in ("case_number", "organisation_id", "created_by_id")}}, id_map=id_map, organisation=organisation)
    db.session.add(person)
    db.session.flush()
    for row in _rows(payload.get("aliases")):
        alias = PersonAlias(id=new_row_id(), person_id=person.id)
        _fill(alias, row, id_map=id_map, organisation=organisation)
        db.session.add(alias)
    index_person(person)  # the sound keys are this installation's: its own blind-index key
    entries = payload.get("entries") or {}
    if not isinstance(entries, dict):
        raise ValueError("entries")
    skipped = {}
    for model in entry_models():
        rows = _rows(entries.get(model.__tablename__))
        if model.__tablename__ in NOT_IMPORTED_AS_ROWS:
            skipped[model.__tablename__] = rows
            continue
        for row in rows:
            entry = model(id=new_row_id(), person_id=person.id)
            id_map[(row.get("values") or {}).get("id")] = entry.id
            _fill(entry, row, id_map=id_map, organisation=organisation)
            db.session.add(entry)
        db.session.flush()
    unknown = sorted(set(entries) - {m.__tablename__ for m in entry_models()})
    for row in _rows(payload.get("revisions")):
        revision = PersonRevision(id=new_row_id(), person_id=person.id)
        _fill(revision, row, id_map=id_map, organisation=organisation)
        db.session.add(revision)
    db.session.flush()
    origin = payload.get("origin") or {}
    record_change(person.id, "case", {"handover_import": [None, {
        "from_installation": sender.name, "fingerprint": sender.fingerprint,
        "origin_organisation": origin.get("organisation"), "origin_case_number": origin.get("case_number"),
        "exported_at": payload.get("exported_at"), "exported_by": origin.get("exported_by"),
        "sections": payload.get("sections"), "not_importable_tables": unknown,
        "origin_referrals": [_referral_text(r) for r in skipped.get("referral", [])]}]}, user, action="create")
    audit.record("create", object_type="person", object_id=person.id, section="identity",
                 details={"handover_import": True, "case_number": person.case_number,
                          "origin_case_number": str(origin.get("case_number")), "sender": sender.fingerprint,
                          "bundle_sha256": bundle_digest, "entries": sum(len(_rows(v)) for v in entries.values())},
                 user=user)
    return person


def _rows(value) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise ValueError("rows")
    return value


def _referral_text(row: dict) -> str:
    values, names = row.get("values") or {}, row.get("names") or {}
    purpose = (row.get("encrypted") or {}).get("purpose") or ""
    return json.dumps({"organisation": names.get("organisation_id"), "section": values.get("section"),
                       "status": values.get("status"), "referred_on": values.get("created_at"),
                       "purpose": purpose}, ensure_ascii=False)
