"""Operations on the identity section: register, update with history, search, list."""
from __future__ import annotations

import datetime as dt
import re
import unicodedata

from sqlalchemy import false, func, literal, select, true, union_all
from sqlalchemy.exc import IntegrityError

from .. import access, audit, regions
from ..auth.models import Organisation, utcnow
from ..crypto import blind_index, new_row_id, normalise_compact
from ..entries import apply_changes, check_version, record_change
from ..extensions import db
from ..names import RANKS, index_person, ranked_matches
from ..names.sound import query_keys
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


# How a search box entry is read (audited as such, never the text itself): a whole case number or
# resident ID number, a name in Chinese characters, pinyin (or another name in Latin letters),
# initials, or anything else (a police case number, a name in another script).
QUERY_KINDS = ("case_number", "id_number", "name", "pinyin", "initials", "other")
# A whole case number, ID number or police case number ranks before every name match (names.RANKS).
NUMBER_RANK = 0
# What a hit's rank says to the caseworker; the number kinds name the number.
MATCH_KINDS = {NUMBER_RANK: "number", RANKS["exact"]: "exact", RANKS["full"]: "sound", RANKS["initials"]: "initials"}


def _han(text: str) -> bool:
    return any(unicodedata.name(c, "").startswith("CJK") for c in text)


def _latin_letters(text: str) -> str:
    """The entry without tone marks and separators, as pinyin is typed ("Zhāng Lì" -> "ZhangLi")."""
    bare = "".join(c for c in unicodedata.normalize("NFD", text) if not unicodedata.combining(c))
    return "".join(c for c in bare if c.isalnum())


def classify_query(q: str) -> str:
    compact = normalise_compact(q)
    if CASE_NUMBER_SHAPE.match(compact):
        return "case_number"
    if ID_NUMBER_SHAPE.match(compact):
        return "id_number"
    if _han(q):
        return "name"
    letters = _latin_letters(q)
    if letters.isascii() and letters.isalpha():
        return "initials" if query_keys(q)["initials"] else "pinyin"
    return "other"


def by_case_number(q: str) -> Person | None:
    """The person with exactly this case number, whoever may reach her: the caller asks access."""
    return db.session.scalar(select(Person).where(Person.case_number == normalise_compact(q)))


def _number_match(column, value: str | None):
    """People whose ``column`` is ``value``; nobody for no value (never ``IS NULL``: everyone)."""
    clause = column == value if value is not None else false()
    return select(Person.id.label("person_id"), literal(NUMBER_RANK).label("rank")).where(clause)


def search_matches(q: str, kind: str | None = None):
    """A subquery (person_id, rank) of everyone the entry finds, each once, lower rank first: a whole
    case number or ID number (NUMBER_RANK), else names and aliases (names.RANKS: exact, same sound,
    initials) and a police case number. Only blind indexes are compared (encrypted columns cannot be).
    The caller joins it to the people the user may reach."""
    kind = kind or classify_query(q)
    if kind == "case_number":
        return _number_match(Person.case_number, normalise_compact(q)).subquery()
    if kind == "id_number":
        return _number_match(Person.id_number_bidx, blind_index("id_number", q, normalise_compact)).subquery()
    names = ranked_matches(q)
    if not any(c.isdigit() for c in q):
        # A name: no police case number lacks digits. Asking anyway lets SQLite, with statistics
        # of a database without police case numbers, scan every person (bench/bench_names.py).
        return names
    # One indexed lookup per branch, joined by UNION: an OR across them makes both SQLite and
    # PostgreSQL scan every person (bench/bench_identity.py).
    hits = union_all(select(names.c.person_id, names.c.rank), _number_match(
        Person.police_case_number_bidx, blind_index("police_case_number", q, normalise_compact))).subquery()
    return select(hits.c.person_id, func.min(hits.c.rank).label("rank")).group_by(hits.c.person_id).subquery()


def _identity_readable(user):
    """Where the user may read identity: a name or ID number finds only those people, else a hit
    would confirm a name the user may not see (a partner's pending referral shows the summary only).
    The subtree roles read identity on everyone they reach."""
    if access.SCOPE.get(user.role) != "referral":
        return true()
    from ..referrals.models import Referral
    return Person.id.in_(select(Referral.person_id).where(Referral.organisation_id == user.organisation_id,
                                                          Referral.status == "active"))


def origin_prefix(code: str) -> str:
    """The code prefix shared by every place in a division: a province's two digits, a city's four,
    a county itself (the districts of the four municipalities sit directly under the province)."""
    division = regions.get(code)
    if division is None or division.is_county_level:
        return code
    return code[:2] if division.is_province else code[:4]


def _filtered(query, filters: dict, today: dt.date):
    """The filters that identify nobody: plaintext metadata only."""
    for key, column in (("status", Person.status), ("identity_status", Person.identity_status),
                        ("sex", Person.sex), ("organisation_id", Person.organisation_id),
                        ("birth_year", Person.birth_year)):
        if filters.get(key) not in (None, ""):
            query = query.where(column == filters[key])
    if filters.get("age_band"):
        years = birth_years_for_band(filters["age_band"], today)
        if years:
            query = query.where(Person.birth_year.between(*years))
    if filters.get("origin_code"):
        query = query.where(Person.origin_code.startswith(origin_prefix(filters["origin_code"]), autoescape=True))
    if filters.get("rescued_from"):
        query = query.where(Person.rescue_date >= filters["rescued_from"])
    if filters.get("rescued_until"):
        query = query.where(Person.rescue_date <= filters["rescued_until"])
    return query


# Filters on what only the identity section shows (a partner on a pending referral sees the summary:
# case number, sex, age band, organisation, case status): like a name, they reach only people whose
# identity the user may read, else three requests would tell a county of origin or a birth year.
IDENTITY_FILTERS = ("identity_status", "birth_year", "origin_code", "rescued_from", "rescued_until")


def _caseload(user, filters: dict, today: dt.date | None):
    """(select of Person, the hits' rank column or None without a search entry)."""
    query = _filtered(access.scoped_people(user), filters, today or dt.date.today())
    q = filters.get("q")
    kind = classify_query(q) if q else None
    if (q and kind != "case_number") or any(filters.get(k) not in (None, "") for k in IDENTITY_FILTERS):
        query = query.where(_identity_readable(user))
    if not q:
        return query, None
    hits = search_matches(q, kind)
    return query.join(hits, hits.c.person_id == Person.id), hits.c.rank


def caseload_query(user, filters: dict, today: dt.date | None = None):
    """A select of the people the caseload lists for these filters (the batch print uses it too)."""
    return _caseload(user, filters, today)[0]


def caseload_page(user, filters: dict, page: int, size: int, today: dt.date | None = None):
    """One page of the caseload as (person, rank) pairs (rank None without a search entry): the
    best matches first, newest first within a rank; and the total. One query for the page."""
    query, rank = _caseload(user, filters, today)
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    newest = (Person.created_at.desc(), Person.id.desc())
    if rank is None:
        people = db.session.scalars(query.order_by(*newest).offset((page - 1) * size).limit(size)).unique()
        return [(person, None) for person in people], total
    rows = db.session.execute(query.add_columns(rank).order_by(rank, *newest)
                              .offset((page - 1) * size).limit(size)).unique().all()
    return [(person, found) for person, found in rows], total


def page_of(query, page: int, size: int):
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    rows = db.session.scalars(query.order_by(Person.created_at.desc(), Person.id.desc())
                              .offset((page - 1) * size).limit(size)).unique().all()
    return rows, total
