"""The disclosure log: every time a person's file leaves its owning organisation."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Organisation, User
from ..crypto import Encrypted, enc_column
from ..entries import EntryMixin
from ..extensions import db

# What left the organisation.
DISCLOSURE_KINDS = ("referral", "handover_bundle", "identified_print", "identified_export")
# On what basis: the person's (or guardian's) consent, or a legal basis that needs none.
BASES = ("consent", "legal_basis")
CONSENT_GIVERS = ("person", "guardian")


class Disclosure(EntryMixin, db.Model):
    __tablename__ = "disclosure"
    kind: Mapped[str] = mapped_column(String(24))
    recipient_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    sections: Mapped[str] = mapped_column(String(255), default="")  # comma-separated section keys
    basis: Mapped[str] = mapped_column(String(16))
    consent_given_by: Mapped[str | None] = mapped_column(String(16))
    consent_given_on: Mapped[dt.date | None] = mapped_column(Date)
    entry_id: Mapped[str | None] = mapped_column(String(32))  # the referral, bundle or print job

    recipient_name_enc: Mapped[str | None] = enc_column()
    legal_basis_enc: Mapped[str | None] = enc_column()
    purpose_enc: Mapped[str | None] = enc_column()
    recipient_name = Encrypted()   # for a recipient outside the system
    legal_basis = Encrypted()      # e.g. the police request and its reference
    purpose = Encrypted()

    recipient_organisation: Mapped[Organisation | None] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys="Disclosure.created_by_id")

    @property
    def recipient(self) -> str:
        return self.recipient_organisation.name if self.recipient_organisation else (self.recipient_name or "")
