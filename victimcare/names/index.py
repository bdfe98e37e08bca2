"""Sound keys stored as blind indexes, rewritten whenever a person's names change."""
from __future__ import annotations

from sqlalchemy import delete, insert, select

from ..crypto import keyring
from ..extensions import db
from ..people.models import Person, PersonAlias
from .models import NameSoundKey
from .sound import KINDS, query_keys, sound_keys

DOMAIN = "name-sound-{}"  # one blind-index domain per kind: a family key never equals a full key


def digests(plain: dict[str, set[str]], kr=None) -> set[tuple[str, str]]:
    """(kind, blind index) pairs of plaintext sound keys. The plaintext keys go no further."""
    kr = kr or keyring()
    return {(kind, kr.blind_index(DOMAIN.format(kind), value)) for kind in KINDS for value in plain[kind]}


def name_digests(name: str | None, kr=None) -> set[tuple[str, str]]:
    return digests(sound_keys(name), kr) if name else set()


def query_digests(text: str, kr=None) -> set[tuple[str, str]]:
    return digests(query_keys(text), kr)


def _current_aliases(person: Person) -> list[PersonAlias]:
    """Her aliases as this transaction has them, flushed or not (removing one sets removed_at)."""
    with db.session.no_autoflush:
        stored = db.session.scalars(select(PersonAlias).where(PersonAlias.person_id == person.id)).all()
    pending = [obj for obj in db.session.new if isinstance(obj, PersonAlias) and obj.person_id == person.id]
    return [a for a in dict.fromkeys([*stored, *pending]) if a.removed_at is None and a.name_enc]


def index_rows(person_id: str, name: str | None, aliases: list[tuple[str, str]], kr=None) -> list[dict]:
    """The rows of name_sound_key for a person's name and (alias id, alias name) pairs."""
    rows = [{"person_id": person_id, "alias_id": None, "kind": k, "bidx": d}
            for k, d in sorted(name_digests(name, kr))]
    for alias_id, alias_name in aliases:
        rows += [{"person_id": person_id, "alias_id": alias_id, "kind": k, "bidx": d}
                 for k, d in sorted(name_digests(alias_name, kr))]
    return rows


def index_person(person: Person) -> None:
    """Rewrite the person's sound keys in the current transaction (the caller commits). Call it
    after every change to her name or aliases: registration, edits, handover import, demo data."""
    aliases = [(a.id, a.name) for a in _current_aliases(person)]
    with db.session.no_autoflush:
        db.session.execute(delete(NameSoundKey).where(NameSoundKey.person_id == person.id)
                           .execution_options(synchronize_session=False))
    db.session.add_all(NameSoundKey(**row) for row in index_rows(person.id, person.name, aliases))


def replace_keys(rows_by_person: dict[str, list[dict]]) -> None:
    """Bulk form for re-indexing: delete and insert for a batch of people at once."""
    if not rows_by_person:
        return
    db.session.execute(delete(NameSoundKey).where(NameSoundKey.person_id.in_(list(rows_by_person)))
                       .execution_options(synchronize_session=False))
    rows = [row for rows in rows_by_person.values() for row in rows]
    if rows:
        db.session.execute(insert(NameSoundKey), rows)
