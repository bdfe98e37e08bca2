"""The person file: identity and rescue, identity status, family tracing (with DNA status)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, CheckConstraint, Date, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Organisation, User, utcnow
from ..crypto import Encrypted, enc_column, id_column, index_column, normalise_compact
from ..extensions import db

SEXES = ("female", "male", "unknown")
CASE_STATUSES = ("open", "closed")
IDENTITY_STATUSES = ("unidentified", "identified")
IDENTIFICATION_METHODS = ("dna", "face", "documents", "self_report")
TRACING_RESULTS = ("not_started", "searching", "guardian_found", "guardian_not_found")

# Identity-section fields shown in the history, in form order; the DNA fields are a section of their own.
IDENTITY_FIELDS = ("name", "aliases", "sex", "date_of_birth", "estimated_age", "id_number", "nationality",
                   "origin_code", "origin_address", "contact", "rescue_date", "rescue_place",
                   "rescuing_agency", "police_case_number", "identity_status", "identified_method",
                   "identified_on", "tracing_result", "tracing_notes", "notes")
DNA_FIELDS = ("dna_sample_taken", "dna_reference", "dna_submitted_on")


class Person(db.Model):
    __tablename__ = "person"
    id: Mapped[str] = id_column()
    case_number: Mapped[str] = mapped_column(String(32), unique=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    # Plaintext on purpose: identifies nobody, needed for filters, statistics and rules.
    sex: Mapped[str] = mapped_column(String(10), index=True)
    birth_year: Mapped[int | None] = mapped_column(Integer, index=True)
    birth_date_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    origin_code: Mapped[str | None] = mapped_column(String(6))
    rescue_date: Mapped[dt.date | None] = mapped_column(Date, index=True)
    identity_status: Mapped[str] = mapped_column(String(20), default="unidentified", index=True)
    identified_method: Mapped[str | None] = mapped_column(String(20))
    identified_on: Mapped[dt.date | None] = mapped_column(Date)
    tracing_result: Mapped[str] = mapped_column(String(20), default="not_started")
    dna_sample_taken: Mapped[bool] = mapped_column(Boolean, default=False)
    dna_submitted_on: Mapped[dt.date | None] = mapped_column(Date)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    # Encrypted (AES-256-GCM, bound to this row); *_bidx are keyed blind indexes for exact search.
    name_enc: Mapped[str | None] = enc_column()
    name_bidx: Mapped[str | None] = index_column()
    id_number_enc: Mapped[str | None] = enc_column()
    id_number_bidx: Mapped[str | None] = index_column()
    date_of_birth_enc: Mapped[str | None] = enc_column()
    date_of_birth_bidx: Mapped[str | None] = index_column()
    nationality_enc: Mapped[str | None] = enc_column()
    origin_address_enc: Mapped[str | None] = enc_column()
    contact_enc: Mapped[str | None] = enc_column()
    rescue_place_enc: Mapped[str | None] = enc_column()
    rescuing_agency_enc: Mapped[str | None] = enc_column()
    police_case_number_enc: Mapped[str | None] = enc_column()
    police_case_number_bidx: Mapped[str | None] = index_column()
    tracing_notes_enc: Mapped[str | None] = enc_column()
    notes_enc: Mapped[str | None] = enc_column()
    dna_reference_enc: Mapped[str | None] = enc_column()

    name = Encrypted(index="name_bidx", index_domain="name")
    id_number = Encrypted(index="id_number_bidx", normalise=normalise_compact)
    date_of_birth = Encrypted(kind=dt.date, index="date_of_birth_bidx")
    nationality = Encrypted()
    origin_address = Encrypted()
    contact = Encrypted()
    rescue_place = Encrypted()
    rescuing_agency = Encrypted()
    police_case_number = Encrypted(index="police_case_number_bidx", normalise=normalise_compact)
    tracing_notes = Encrypted()
    notes = Encrypted()
    dna_reference = Encrypted()

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship()
    aliases: Mapped[list["PersonAlias"]] = relationship(
        order_by="PersonAlias.created_at",
        primaryjoin="and_(Person.id == PersonAlias.person_id, PersonAlias.removed_at.is_(None))",
        viewonly=True)

    __mapper_args__ = {"version_id_col": version}
    # The caseload's order: newest first, read straight off the index. Possible duplicates by birth
    # year and county of origin (people/duplicate_pairs.py) pair people off the second.
    __table_args__ = (Index("ix_person_created_at_id", "created_at", "id"),
                      Index("ix_person_origin_birth_year", "origin_code", "birth_year"),
                      # A search with hundreds of hits (initials) checks scope and order off the index.
                      Index("ix_person_id_organisation_created", "id", "organisation_id", "created_at"))

    @property
    def alias_names(self) -> list[str]:
        return [a.name for a in self.aliases]

    def age_on(self, day: dt.date) -> int | None:
        dob = self.date_of_birth
        if dob is not None and not self.birth_date_estimated:
            return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))
        return day.year - self.birth_year if self.birth_year else None


class PersonAlias(db.Model):
    """Other names a person is known by. Removing one keeps the row (removed_at)."""
    __tablename__ = "person_alias"
    id: Mapped[str] = id_column()
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    name_enc: Mapped[str | None] = enc_column()
    name_bidx: Mapped[str | None] = index_column()
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)

    name = Encrypted(index="name_bidx", index_domain="name")


class PersonRevision(db.Model):
    """One saved change to a section: who, when, and the old and new values (encrypted)."""
    __tablename__ = "person_revision"
    id: Mapped[str] = id_column()
    person_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    section: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    entry_id: Mapped[str | None] = mapped_column(String(32), index=True)  # the section entry changed
    changes_enc: Mapped[str | None] = enc_column()

    changes = Encrypted()  # JSON: {field: [old, new]}
    changed_by: Mapped[User | None] = relationship()


class CaseCounter(db.Model):
    """Next case-number sequence per region and year."""
    __tablename__ = "case_counter"
    __table_args__ = (UniqueConstraint("region_code", "year"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6))
    year: Mapped[int] = mapped_column(Integer)
    last: Mapped[int] = mapped_column(Integer, default=0)


DUPLICATE_DECISIONS = ("different", "same")


class DuplicateDecision(db.Model):
    """A manager's answer about two files listed as possible duplicates (people/duplicate_pairs.py):
    "different" (not the same person: the pair is no longer listed) or "same" (linked for a merge
    decision). Nothing is merged or deleted: both files stay as they are. One row per pair, the smaller
    id first, so a pair has one answer whichever way round it was asked; undoing removes the row (the
    audit trail keeps who decided what, when, and who undid it)."""
    __tablename__ = "duplicate_decision"
    id: Mapped[str] = id_column()
    person_a_id: Mapped[str] = mapped_column(ForeignKey("person.id"))
    person_b_id: Mapped[str] = mapped_column(ForeignKey("person.id"), index=True)
    decision: Mapped[str] = mapped_column(String(10))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    note_enc: Mapped[str | None] = enc_column()

    note = Encrypted()  # free text: why (not) the same person
    decided_by: Mapped[User | None] = relationship()

    __table_args__ = (UniqueConstraint("person_a_id", "person_b_id"),
                      CheckConstraint("person_a_id < person_b_id", name="pair_order"),
                      CheckConstraint("decision IN ('different', 'same')", name="decision"))
