"""Shelter placements (安置) and residence registration applications (落户申请)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Organisation
from ..crypto import Encrypted, enc_column
from ..entries import EntryMixin
from ..extensions import db


class Placement(EntryMixin, db.Model):
    """One stay: admission to an institution or household, and its discharge.

    A transfer is the discharge from one stay and the admission to the next on the same day."""
    __tablename__ = "placement"
    # An organisation in the caseworker's scope, or a free-text name (a foster family, a welfare
    # home outside the system). The name may identify a family: encrypted.
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    placement_type: Mapped[str] = mapped_column(String(30))
    household_relation: Mapped[str] = mapped_column(String(20), default="none")
    # Plaintext on purpose: the residence rule and the statistics count with them.
    admitted_on: Mapped[dt.date] = mapped_column(Date, index=True)
    discharged_on: Mapped[dt.date | None] = mapped_column(Date)

    institution_name_enc: Mapped[str | None] = enc_column()
    reason_enc: Mapped[str | None] = enc_column()
    discharge_reason_enc: Mapped[str | None] = enc_column()
    institution_name = Encrypted()
    reason = Encrypted()
    discharge_reason = Encrypted()

    organisation: Mapped[Organisation | None] = relationship(lazy="joined")

    @property
    def institution(self) -> str:
        return self.organisation.name if self.organisation is not None else (self.institution_name or "")

    @property
    def is_open(self) -> bool:
        return self.discharged_on is None


class ResidenceApplication(EntryMixin, db.Model):
    """A residence registration application: drafted by civil affairs from the file, submitted to a
    police station (which gets a referral), registered by the police with the hukou number."""
    __tablename__ = "residence_application"
    status: Mapped[str] = mapped_column(String(12), default="drafted", index=True)
    # The rule's dates and non-identifying particulars, plaintext like the person's own.
    stay_started: Mapped[dt.date] = mapped_column(Date)
    due_on: Mapped[dt.date] = mapped_column(Date)
    drafted_on: Mapped[dt.date] = mapped_column(Date)
    sex: Mapped[str] = mapped_column(String(10))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    birth_date_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    rescue_date: Mapped[dt.date | None] = mapped_column(Date)
    identity_status: Mapped[str] = mapped_column(String(20))
    submitted_on: Mapped[dt.date | None] = mapped_column(Date)
    police_organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)
    referral_id: Mapped[str | None] = mapped_column(ForeignKey("referral.id"))
    registered_on: Mapped[dt.date | None] = mapped_column(Date)
    registered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))

    name_enc: Mapped[str | None] = enc_column()
    date_of_birth_enc: Mapped[str | None] = enc_column()
    institution_enc: Mapped[str | None] = enc_column()
    statement_enc: Mapped[str | None] = enc_column()
    hukou_number_enc: Mapped[str | None] = enc_column()
    name = Encrypted()
    date_of_birth = Encrypted(kind=dt.date)
    institution = Encrypted()
    statement = Encrypted()        # the shelter's statement of the circumstances (情况说明)
    hukou_number = Encrypted()

    police_organisation: Mapped[Organisation | None] = relationship(lazy="joined")

    @property
    def live(self) -> bool:
        return self.status in ("drafted", "submitted")
