"""Look a search box entry up: exact name first, then same sound, then initials."""
from __future__ import annotations

from sqlalchemy import func, literal, select, union_all

from ..crypto import blind_index
from ..people.models import Person, PersonAlias
from .index import name_digests, query_digests
from .models import NameSoundKey

# Issue 8, point 1: exact matches first, then same-sound matches (whole name or family name), then
# initials. Lower is better.
RANKS = {"exact": 1, "full": 2, "family": 2, "initials": 3}


def _branches(text: str) -> list:
    """Selects of (person_id, rank): one indexed lookup per branch, to be joined by UNION ALL:
    an OR across indexes makes SQLite and PostgreSQL scan every person (bench/bench_identity.py)."""
    exact = blind_index("name", text)
    branches = [
        select(Person.id.label("person_id"), literal(RANKS["exact"]).label("rank"))
        .where(Person.name_bidx == exact),
        select(PersonAlias.person_id, literal(RANKS["exact"]))
        .where(PersonAlias.name_bidx == exact, PersonAlias.removed_at.is_(None)),
    ] if exact else []
    by_kind: dict[str, list[str]] = {}
    for kind, digest in sorted(query_digests(text)):
        by_kind.setdefault(kind, []).append(digest)
    for kind, found in by_kind.items():  # a branch per kind, read off ix_name_sound_key_kind_bidx
        branches.append(select(NameSoundKey.person_id, literal(RANKS[kind]))
                        .where(NameSoundKey.kind == kind, NameSoundKey.bidx.in_(found)))
    return branches


def ranked_matches(text: str):
    """A subquery (person_id, rank): every person whose name or alias matches ``text``, each once
    with her best rank (RANKS). The caller adds the scope (access.scoped_people) and the order."""
    branches = _branches(text)
    if not branches:
        return select(Person.id.label("person_id"), literal(0).label("rank")).where(literal(False)).subquery()
    hits = union_all(*branches).subquery()
    return (select(hits.c.person_id, func.min(hits.c.rank).label("rank"))
            .group_by(hits.c.person_id).subquery())


def matching_ids(text: str) -> list:
    """The same people as ranked_matches, as selects of person_id to put in an IN (...) union."""
    return [branch.with_only_columns(branch.selected_columns[0]) for branch in _branches(text)]


def same_sound_ids(names: list[str]):
    """A select of person_id: people with a name or alias that sounds like one of ``names`` (any
    reading of the whole name), or None when no name is given. For the duplicate check: a name
    being registered is read as a stored name, not as a search entry (no family or initials)."""
    digests = sorted({d for name in names if name for kind, d in name_digests(name) if kind == "full"})
    if not digests:
        return None
    return select(NameSoundKey.person_id).where(NameSoundKey.kind == "full", NameSoundKey.bidx.in_(digests))
