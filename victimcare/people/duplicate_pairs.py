"""The duplicate rules between stored files: pairs of people, found in SQL by self-joins on the blind
indexes (issue 8, point 4).

Each function answers one rule of ``duplicates.RULES`` for the whole caseload a manager reaches: it
returns selects of (a, b), two person ids with ``a < b`` (the order ``DuplicateDecision`` keeps), both
people passing ``scope`` (a ``Scope``: ``scope(person_alias)`` is the where-clause, ``scope.ids(column)``
the same restriction put on a person id column of another table, so that checking one pair starts
from its two ids instead of from every key). The joins go through the indexed key columns (ID number,
name, date of birth, origin and birth year; sound keys by (kind, bidx)), so each file is compared
only with the files sharing its key, never every file with every other; nothing is decrypted.
A pair may come out of several rules and, through aliases or several readings of a name, more than
once: the caller groups them (duplicate_review.py)."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, case, select, true
from sqlalchemy.orm import aliased

from ..names.models import NameSoundKey
from .models import Person, PersonAlias

SOUND = "full"  # the sound key of the whole name (names.sound.KINDS): a family name alone is too little


@dataclass(frozen=True)
class Scope:
    organisations: object                 # a select of the organisation ids whose people count
    only: tuple[str, str] | None = None   # just these two people (checking one pair)

    def __call__(self, person):
        clause = person.organisation_id.in_(self.organisations)
        return and_(clause, person.id.in_(self.only)) if self.only else clause

    def ids(self, column):
        return column.in_(self.only) if self.only else true()


def is_county_code(code) -> bool:
    """A county-level division code (GB/T 2260: two digits per level; a county's last two are not 00,
    as regions.Division.is_county_level), whether or not the current table still has it."""
    return isinstance(code, str) and len(code) == 6 and code.isdigit() and not code.endswith("00")


def _county_level(column):
    """``is_county_code`` for a stored origin_code (checked to be six digits when saved)."""
    return and_(column.is_not(None), ~column.endswith("00"))


def _ordered(x, y):
    """(a, b) of two person id columns with the smaller first."""
    return case((x < y, x), else_=y).label("a"), case((x < y, y), else_=x).label("b")


def _people():
    return aliased(Person, name="p1"), aliased(Person, name="p2")


def same_id_number(scope) -> list:
    p1, p2 = _people()
    return [select(p1.id.label("a"), p2.id.label("b")).select_from(p1)
            .join(p2, and_(p2.id_number_bidx == p1.id_number_bidx, p1.id < p2.id))
            .where(p1.id_number_bidx.is_not(None), scope(p1), scope(p2))]


def same_name_and_birth_date(scope) -> list:
    p1, p2 = _people()
    return [select(p1.id.label("a"), p2.id.label("b")).select_from(p1)
            .join(p2, and_(p2.name_bidx == p1.name_bidx, p2.date_of_birth_bidx == p1.date_of_birth_bidx,
                           p1.id < p2.id))
            .where(p1.name_bidx.is_not(None), p1.date_of_birth_bidx.is_not(None), scope(p1), scope(p2))]


def same_alias_and_birth_date(scope) -> list:
    """One's alias is the other's name, or both share an alias; same date of birth."""
    p1, p2 = _people()
    a1, a2 = aliased(PersonAlias, name="a1"), aliased(PersonAlias, name="a2")
    alias_is_name = (select(*_ordered(p1.id, p2.id)).select_from(a1)
                     .join(p1, p1.id == a1.person_id)
                     .join(p2, and_(p2.name_bidx == a1.name_bidx, p2.id != p1.id,
                                    p2.date_of_birth_bidx == p1.date_of_birth_bidx))
                     .where(a1.removed_at.is_(None), p1.date_of_birth_bidx.is_not(None), scope.ids(a1.person_id),
                            scope(p1), scope(p2)))
    shared_alias = (select(p1.id.label("a"), p2.id.label("b")).select_from(a1)
                    .join(a2, and_(a2.name_bidx == a1.name_bidx, a1.person_id < a2.person_id,
                                   a2.removed_at.is_(None)))
                    .join(p1, p1.id == a1.person_id).join(p2, p2.id == a2.person_id)
                    .where(a1.removed_at.is_(None), p2.date_of_birth_bidx == p1.date_of_birth_bidx,
                           p1.date_of_birth_bidx.is_not(None), scope.ids(a1.person_id), scope(p1), scope(p2)))
    return [alias_is_name, shared_alias]


def _share_a_sound(p1, p2):
    """p1 and p2 have a name or alias with the same whole-name sound key. Asked per pair the other
    key gave (EXISTS): driving from the sound keys would pair every 张伟 with every other first."""
    k1, k2 = aliased(NameSoundKey, name="k1"), aliased(NameSoundKey, name="k2")
    return (select(k1.id).join(k2, and_(k2.kind == SOUND, k2.bidx == k1.bidx, k2.person_id == p2.id))
            .where(k1.person_id == p1.id, k1.kind == SOUND).exists())


def _same_sound(scope, key_match, conditions):
    """Pairs equal on ``key_match`` (an indexed key: few people share it) whose names sound the same."""
    p1, p2 = _people()
    return (select(p1.id.label("a"), p2.id.label("b")).select_from(p1)
            .join(p2, and_(key_match(p1, p2), p1.id < p2.id))
            .where(scope(p1), scope(p2), *conditions(p1), _share_a_sound(p1, p2)))


def same_sound_and_birth_date(scope) -> list:
    return [_same_sound(scope, lambda p1, p2: p2.date_of_birth_bidx == p1.date_of_birth_bidx,
                        lambda p1: (p1.date_of_birth_bidx.is_not(None),))]


def same_sound_birth_year_and_county(scope) -> list:
    # ix_person_origin_birth_year answers the key.
    return [_same_sound(scope, lambda p1, p2: and_(p2.origin_code == p1.origin_code,
                                                   p2.birth_year == p1.birth_year),
                        lambda p1: (_county_level(p1.origin_code), p1.birth_year.is_not(None)))]
