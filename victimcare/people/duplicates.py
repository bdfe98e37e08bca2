"""Possible duplicates of a person about to be registered (issue 6, point 2).

A file in the user's scope is a possible duplicate when it shares an identifying value with the data
being registered. Matching goes through the blind indexes only: the submitted values are indexed with
the same keyed HMAC as the stored ones and compared in SQL, so nothing is decrypted to compare.

Each reason is one ``MatchRule`` in ``RULES``: a new kind of match (same-sound names, issue 8) is one
more rule, and the page, the audit row and the confirmation pick it up unchanged.
"""
from __future__ import annotations

import datetime as dt
import hmac
from dataclasses import dataclass, field
from functools import cached_property
from typing import Callable

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, union_all

from .. import access, audit, names
from ..crypto import blind_index, normalise_compact
from ..extensions import db
from ..names.models import NameSoundKey
from . import duplicate_pairs as pairs
from .models import Person, PersonAlias
from .service import split_aliases

LIMIT = 20  # candidates shown at most: enough to recognise the file, not a way to list the caseload
CONFIRM_FIELD = "duplicates_confirmed"  # the confirming button's name; its value is the confirmation


@dataclass(frozen=True)
class Probe:
    """The blind indexes of the identifying values being registered (the stored indexes' domains)."""
    id_number: str | None
    name: str | None
    aliases: tuple[str, ...]
    date_of_birth: str | None
    # Plaintext on purpose (as stored): the birth year, and the place of origin at county level only.
    birth_year: int | None = None
    origin_county: str | None = None
    # The form's data, for a rule that needs other indexes of it (e.g. sound keys of the name).
    data: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, data: dict, today: dt.date | None = None) -> "Probe":
        dob = data.get("date_of_birth")
        alias_indexes = [blind_index("name", n) for n in split_aliases(data.get("aliases"))]
        return cls(id_number=blind_index("id_number", data.get("id_number"), normalise_compact),
                   name=blind_index("name", data.get("name")),
                   aliases=tuple(sorted(set(n for n in alias_indexes if n))),
                   date_of_birth=blind_index("date_of_birth", dob.isoformat() if dob else None),
                   birth_year=_birth_year(data, today or dt.date.today()),
                   origin_county=data.get("origin_code") if pairs.is_county_code(data.get("origin_code")) else None,
                   data=data)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted({self.name, *self.aliases} - {None}))

    @cached_property
    def same_sound(self):
        """A select of the people whose name or an alias sounds like the name or an alias given now
        (whole-name sound keys, names.same_sound_ids); None without a name."""
        return names.same_sound_ids([self.data.get("name"), *split_aliases(self.data.get("aliases"))])


def _birth_year(data: dict, today: dt.date) -> int | None:
    """The birth year registering would store (people.service._apply_birth): the date's, or the
    estimated age's."""
    if data.get("date_of_birth") is not None:
        return data["date_of_birth"].year
    age = data.get("estimated_age")
    return today.year - age if isinstance(age, int) else None


@dataclass(frozen=True)
class MatchRule:
    reason: str                                # stable key: audit rows and the confirmation hold it
    label: object                              # what the page says (lazily translated)
    hits: Callable[[Probe], object | None]     # a select() of matching person ids; None: nothing to match
    # The same rule between stored files: selects of (a, b) person id pairs (duplicate_pairs.py).
    pairs: Callable[[object], list] | None = None
    # Stronger reasons that entail this one: the same name sounds the same, so only the stronger shows.
    implied_by: tuple[str, ...] = ()


def _same_id_number(probe: Probe):
    if probe.id_number:
        return select(Person.id).where(Person.id_number_bidx == probe.id_number)
    return None


def _same_name_and_birth_date(probe: Probe):
    if probe.name and probe.date_of_birth:
        return select(Person.id).where(Person.name_bidx == probe.name,
                                       Person.date_of_birth_bidx == probe.date_of_birth)
    return None


def _same_alias_and_birth_date(probe: Probe):
    """A name or alias given now equals a stored alias, or an alias given now equals a stored name."""
    if not probe.date_of_birth or not probe.names:
        return None
    by_alias = (select(PersonAlias.person_id).join(Person, Person.id == PersonAlias.person_id)
                .where(PersonAlias.name_bidx.in_(probe.names), PersonAlias.removed_at.is_(None),
                       Person.date_of_birth_bidx == probe.date_of_birth))
    if not probe.aliases:
        return by_alias
    return union_all(by_alias, select(Person.id).where(Person.name_bidx.in_(probe.aliases),
                                                       Person.date_of_birth_bidx == probe.date_of_birth))


def _same_sound_and_birth_date(probe: Probe):
    """A name or alias given now sounds like a stored name or alias (any reading of the whole name:
    章莉 and 张丽), and the date of birth is the same."""
    if probe.same_sound is None or not probe.date_of_birth:
        return None
    return (probe.same_sound.join(Person, Person.id == NameSoundKey.person_id)
            .where(Person.date_of_birth_bidx == probe.date_of_birth))


def _same_sound_birth_year_and_county(probe: Probe):
    """Same sound, same birth year (a date or an estimated age) and the same county of origin: people
    who do not know their date of birth. A province or city alone is too wide to say anything."""
    if probe.same_sound is None or probe.birth_year is None or probe.origin_county is None:
        return None
    return (probe.same_sound.join(Person, Person.id == NameSoundKey.person_id)
            .where(Person.birth_year == probe.birth_year, Person.origin_code == probe.origin_county))


# Strongest reason first: candidates are listed in this order.
RULES: list[MatchRule] = [
    MatchRule("id_number", _l("Same ID number"), _same_id_number, pairs.same_id_number),
    MatchRule("name_birth_date", _l("Same name and date of birth"), _same_name_and_birth_date,
              pairs.same_name_and_birth_date),
    MatchRule("alias_birth_date", _l("Same alias and date of birth"), _same_alias_and_birth_date,
              pairs.same_alias_and_birth_date),
    MatchRule("sound_birth_date", _l("Name sounds the same, same date of birth"), _same_sound_and_birth_date,
              pairs.same_sound_and_birth_date, implied_by=("name_birth_date", "alias_birth_date")),
    MatchRule("sound_birth_year_county", _l("Name sounds the same, same birth year and county of origin"),
              _same_sound_birth_year_and_county, pairs.same_sound_birth_year_and_county),
]
LABELS = {rule.reason: rule.label for rule in RULES}


def strongest(reasons) -> list[str]:
    """The reasons found, in rule order, without those a stronger one found entails."""
    found = set(reasons)
    return [rule.reason for rule in RULES if rule.reason in found and not found.intersection(rule.implied_by)]


@dataclass
class Candidate:
    person: Person
    reasons: list[str] = field(default_factory=list)
    readable: bool = False  # may the user open the file (the page links to it only then)

    @property
    def reason_labels(self) -> list:
        return [LABELS[r] for r in self.reasons]


def _find(user, probe: Probe, limit: int) -> list[Candidate]:
    """Up to ``limit`` candidates in the user's scope, by rule order, then case number. The scope is
    part of the query: a file outside it is never loaded, so not even its existence can show."""
    found: dict[str, Candidate] = {}
    for rule in RULES:
        hits = rule.hits(probe)
        if hits is None:
            continue
        query = (access.scoped_people(user).where(Person.id.in_(hits))
                 .order_by(Person.case_number).limit(limit))
        for person in db.session.scalars(query).unique():
            found.setdefault(person.id, Candidate(person)).reasons.append(rule.reason)
    candidates = list(found.values())[:limit]
    for candidate in candidates:
        candidate.reasons = strongest(candidate.reasons)
        candidate.readable = access.can(user, "read", candidate.person, "summary")
    return candidates


def possible_duplicates(user, data: dict) -> list[Candidate]:
    """Files in the user's scope that may be the person described by ``data`` (the identity form's
    data), with the reasons; at most ``LIMIT``."""
    return _find(user, Probe.of(data), LIMIT)


def _confirmation(user, probe: Probe, candidates: list[Candidate]) -> str:
    """A keyed digest of exactly what the user was shown and answered: the candidates with their
    reasons and the indexes of the values checked. Another candidate, another reason or changed
    identifying data gives another digest, so the user is warned again. Ids and indexes only, never
    a name."""
    shown = sorted(f"{c.person.id}:{'+'.join(c.reasons)}" for c in candidates)
    checked = [probe.id_number or "", probe.name or "", ",".join(probe.aliases), probe.date_of_birth or "",
               str(probe.birth_year or ""), probe.origin_county or ""]
    return blind_index("duplicate_confirmation", "\x1f".join([str(user.id), *checked, *shown]),
                       normalise=lambda value: value)


@dataclass
class DuplicateCheck:
    """The result of checking one registration: the candidates, and whether the user confirmed that
    the person is none of them (by posting back the confirmation of this same candidate set)."""
    candidates: list[Candidate]
    confirmation: str | None
    confirmed: bool
    truncated: bool = False  # more candidates than LIMIT: the first LIMIT are shown
    field_name: str = CONFIRM_FIELD
    limit: int = LIMIT

    @property
    def warns(self) -> bool:
        """Saving must wait: there are candidates the user has not answered."""
        return bool(self.candidates) and not self.confirmed

    def record(self, person: Person | None = None) -> None:
        """Audit a check that found candidates (ids and reason keys, never the values searched for):
        when it warned, and when the user registered ``person`` anyway."""
        if not self.candidates:
            return
        audit.record("search", object_type="person", object_id=person.id if person else None,
                     section="identity",
                     details={"query_kind": "duplicates", "results": len(self.candidates),
                              "candidates": [c.person.id for c in self.candidates],
                              "reasons": ["+".join(c.reasons) for c in self.candidates],
                              "confirmed": self.confirmed})


def check(user, data: dict, answer: str | None) -> DuplicateCheck:
    """Check a registration; ``answer`` is the confirmation posted back (if any)."""
    probe = Probe.of(data)
    candidates = _find(user, probe, LIMIT + 1)
    if not candidates:
        return DuplicateCheck([], None, False)
    truncated, candidates = len(candidates) > LIMIT, candidates[:LIMIT]
    expected = _confirmation(user, probe, candidates)
    confirmed = isinstance(answer, str) and hmac.compare_digest(answer.encode("utf-8", "surrogatepass"),
                                                               expected.encode("ascii"))
    return DuplicateCheck(candidates, expected, confirmed, truncated)
