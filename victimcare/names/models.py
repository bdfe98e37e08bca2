"""Sound keys of names: keyed HMACs only (no name, pinyin or part of a name is stored)."""
from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..crypto import INDEX_BYTES
from ..extensions import db
from ..people.models import Person, PersonAlias


class NameSoundKey(db.Model):
    """One sound key of a person's name (alias_id empty) or of one of her aliases.

    ``bidx`` is the blind index (HMAC-SHA256 with the blind-index key, truncated) of a plaintext key
    from ``names.sound``, in the domain ``name-sound-<kind>``. A person has a handful of rows
    (polyphonic characters give more); they are rewritten whole whenever a name changes."""
    __tablename__ = "name_sound_key"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    alias_id: Mapped[str | None] = mapped_column(ForeignKey("person_alias.id"))
    kind: Mapped[str] = mapped_column(String(10))
    bidx: Mapped[str] = mapped_column(String(INDEX_BYTES * 2))
    # Never read: they make the flush insert a new person and alias before their keys.
    person: Mapped[Person] = relationship(lazy="raise")
    alias: Mapped[PersonAlias | None] = relationship(lazy="raise")

    # Searches ask (kind, bidx) and want person_id: the index alone answers them.
    __table_args__ = (Index("ix_name_sound_key_kind_bidx", "kind", "bidx", "person_id"),)
