"""Operations on the identity section: register, update with history, search, list."""
from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import func, select, union_all
from sqlalchemy.exc import IntegrityError

from .. import access, audit
from ..auth.models import Organisation, utcnow
from ..crypto import blind_index, new_row_id, normalise_compact
from ..entries import apply_changes, check_version, record_change
from ..extensions import db
from ..names import index_person, matching_ids
from .models import DNA_FIELDS, CaseCounter, Person, PersonAlias
from .rules import birth_years_for_band, format_case_number

CASE_NUMBER_SHAPE = re.compile(r"^\d{6}-\d{4}-\d{5}$")
ID_NUMBER_SHAPE = re.compile(r"^\d{17}[\dXx]$")

# Stored attributes written from the identity form (aliases and age are handled apart).
_IDENTITY_ATTRS = ("name", "sex", "date_of_birth", "id_number", "nationality", "origin_code",
                   "origin_address", "contact", "rescue_date", "rescue_place", "rescuing_agency",
                   "police_case_number", "identity_status", "identified_method", "identified_on",
                   "tracing_result", "tracing_notes", "notes")


def next_case_number(region_code: str, year: int) -> str:
    """Allocate the next sequence for the region and year under a row lock."""
    query = (select(CaseCounter).where(CaseCounter.region_code == region_code, CaseCounter.year == year)
             .with_for_update())
    counter = db.session.scalar(query)
    if counter is None:
        try:
            with db.session.begin_nested():
                db.session.add(CaseCounter(region_code=region_code, year=year, last=0))
        except IntegrityError:
            pass  # another writer created it first
        counter = db.session.scalar(query.execution_options(populate_existing=True))
    counter.last += 1
    return format_case_number(region_code, year, counter.last)


def _apply_birth(person: Person, data: dict, today: dt.date) -> dict:
    dob, age = data.get("date_of_birth"), data.get("estimated_age")
    if dob is not None:
        year, estimated = dob.year, False
    elif age is not None:
        year, estimated = today.year - age, True
    else:
        return {}
    changes = {}
    if person.birth_year != year or person.birth_date_estimated != estimated:
        changes["birth_year"] = [person.birth_year, year]
        person.birth_year, person.birth_date_estimated = year, estimated
    return changes


def _apply_aliases(person: Person, names: list[str]) -> dict:
    with db.session.no_autoflush:  # loading them must not write the person early: one UPDATE per save
        current = {a.name: a for a in person.aliases}
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if list(current) == wanted:
        return {}
    now = utcnow()
    for name, alias in current.items():
        if name not in wanted:
            alias.removed_at = now
    for name in wanted:
        if name not in current:
            alias = PersonAlias(id=new_row_id(), person_id=person.id)
            alias.name = name
            db.session.add(alias)
    return {"aliases": [list(current), wanted]}


def split_aliases(text: str | None) -> list[str]:
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def register_person(data: dict, organisation: Organisation, user, today: dt.date | None = None) -> Person:
    today = today or dt.date.today()
    person = Person(id=new_row_id(), organisation_id=organisation.id, status="open",
                    created_by_id=user.id, created_at=utcnow())
    person.case_number = next_case_number(organisation.region_code, today.year)
    apply_changes(person, data, _IDENTITY_ATTRS)
    _apply_birth(person, data, today)
    db.session.add(person)
    db.session.flush()
    _apply_aliases(person, split_aliases(data.get("aliases")))
    index_person(person)
    audit.record("create", object_type="person", object_id=person.id, section="identity",
                 details={"case_number": person.case_number}, user=user)
    return person


def update_identity(person: Person, data: dict, user, version, today: dt.date | None = None) -> dict:
    check_version(person, version)
    changes = apply_changes(person, data, _IDENTITY_ATTRS)
    changes.update(_apply_birth(person, data, today or dt.date.today()))
    changes.update(_apply_aliases(person, split_aliases(data.get("aliases"))))
    if "name" in changes or "aliases" in changes:
        index_person(person)
    _finish_update(person, "identity", changes, user)
    return changes


def update_dna(person: Person, data: dict, user, version) -> dict:
    check_version(person, version)
    changes = apply_changes(person, data, DNA_FIELDS)
    _finish_update(person, "dna", changes, user)
    return changes


def _finish_update(person: Person, section: str, changes: dict, user) -> None:
    if changes:
        person.updated_at = utcnow()
        record_change(person.id, section, changes, user)


def classify_query(q: str) -> str:
    compact = normalise_compact(q)
    if CASE_NUMBER_SHAPE.match(compact):
        return "case_number"
    if ID_NUMBER_SHAPE.match(compact):
        return "id_number"
    return "name"


def by_case_number(q: str) -> Person | None:
    """The person with exactly this case number, whoever may reach her: the caller asks access."""
    return db.session.scalar(select(Person).where(Person.case_number == normalise_compact(q)))


def search_clause(q: str):
    """An exact-match where-clause through blind indexes (encrypted columns cannot be compared)."""
    kind = classify_query(q)
    if kind == "case_number":
        return kind, Person.case_number == normalise_compact(q)
    if kind == "id_number":
        return kind, Person.id_number_bidx == blind_index("id_number", q, normalise_compact)
    # One indexed lookup per branch, joined by UNION: an OR across them makes both SQLite and
    # PostgreSQL scan every person (bench/bench_identity.py). Names: exact, same sound or initials
    # (names.ranked_matches gives the rank for ordering).
    hits = union_all(
        *matching_ids(q),
        select(Person.id).where(Person.police_case_number_bidx
                                == blind_index("police_case_number", q, normalise_compact)))
    return kind, Person.id.in_(hits)


def caseload_query(user, filters: dict, today: dt.date | None = None):
    query = access.scoped_people(user)
    if filters.get("status"):
        query = query.where(Person.status == filters["status"])
    if filters.get("identity_status"):
        query = query.where(Person.identity_status == filters["identity_status"])
    if filters.get("sex"):
        query = query.where(Person.sex == filters["sex"])
    if filters.get("age_band"):
        years = birth_years_for_band(filters["age_band"], today or dt.date.today())
        if years:
            query = query.where(Person.birth_year.between(*years))
    if filters.get("organisation_id"):
        query = query.where(Person.organisation_id == filters["organisation_id"])
    if filters.get("rescued_from"):
        query = query.where(Person.rescue_date >= filters["rescued_from"])
    if filters.get("rescued_until"):
        query = query.where(Person.rescue_date <= filters["rescued_until"])
    if filters.get("q"):
        _kind, clause = search_clause(filters["q"])
        query = query.where(clause)
    return query


def page_of(query, page: int, size: int):
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.order_by(Person.created_at.desc(), Person.id.desc())
                              .offset((page - 1) * size).limit(size)).unique().all()
    return rows, total
