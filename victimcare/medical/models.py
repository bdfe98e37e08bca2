"""Medical visits and costs, disability assessments, suspected-trafficking reports.

Money stays plaintext (Numeric(12,2)) for the per-hospital ledger; so do the hospital, dates and types
that statistics count. Diagnoses, notes and every narrative are encrypted."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Date, DateTime, ForeignKey, Integer, Numeric, String, Time
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..auth.models import Organisation, User, utcnow
from ..crypto import Encrypted, enc_column, id_column
from ..entries import EntryMixin
from ..extensions import db

VISIT_TYPES = ("basic_medical", "psychological_counselling", "psychiatric_treatment")
DISABILITY_CATEGORIES = ("visual", "hearing", "speech", "physical", "intellectual", "mental", "multiple")
DISABILITY_GRADES = (1, 2, 3, 4)
# submitted: waiting for the police; acknowledged: the station has taken note; investigating: passed on.
REPORT_STATUSES = ("submitted", "acknowledged", "investigating")


class MedicalVisit(EntryMixin, db.Model):
    __tablename__ = "medical_visit"
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)  # the hospital
    visit_date: Mapped[dt.date] = mapped_column(Date, index=True)
    visit_type: Mapped[str] = mapped_column(String(30))
    total_cost: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    insurance_paid: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    # total - insurance, computed by rules.self_pay, stored for the ledger: borne by same-level finance.
    self_pay: Mapped[Decimal] = mapped_column(Numeric(12, 2))

    diagnosis_enc: Mapped[str | None] = enc_column()
    notes_enc: Mapped[str | None] = enc_column()
    diagnosis = Encrypted()
    notes = Encrypted()

    organisation: Mapped[Organisation] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys="MedicalVisit.created_by_id")


class DisabilityAssessment(EntryMixin, db.Model):
    __tablename__ = "disability_assessment"
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)  # who recorded it
    category: Mapped[str] = mapped_column(String(20))
    grade: Mapped[int] = mapped_column(Integer)
    assessed_on: Mapped[dt.date] = mapped_column(Date)

    institution_enc: Mapped[str | None] = enc_column()
    notes_enc: Mapped[str | None] = enc_column()
    institution = Encrypted()
    notes = Encrypted()

    organisation: Mapped[Organisation] = relationship(lazy="joined")


class TraffickingReport(db.Model):
    """A mandatory report of suspected trafficking, addressed to one police station."""
    __tablename__ = "trafficking_report"
    id: Mapped[str] = id_column()
    reporter_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    police_organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    person_id: Mapped[str | None] = mapped_column(ForeignKey("person.id"), index=True)
    observed_on: Mapped[dt.date] = mapped_column(Date)
    observed_time: Mapped[dt.time | None] = mapped_column(Time)
    status: Mapped[str] = mapped_column(String(20), default="submitted", index=True)
    read_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    read_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow, onupdate=utcnow)

    place_enc: Mapped[str | None] = enc_column()
    victim_description_enc: Mapped[str | None] = enc_column()
    circumstances_enc: Mapped[str | None] = enc_column()
    reporter_contact_enc: Mapped[str | None] = enc_column()
    place = Encrypted()
    victim_description = Encrypted()
    circumstances = Encrypted()
    reporter_contact = Encrypted()

    reporter_organisation: Mapped[Organisation] = relationship(
        foreign_keys="TraffickingReport.reporter_organisation_id", lazy="joined")
    police_organisation: Mapped[Organisation] = relationship(
        foreign_keys="TraffickingReport.police_organisation_id", lazy="joined")
    created_by: Mapped[User | None] = relationship(foreign_keys="TraffickingReport.created_by_id")
    person = relationship("Person")
    updates: Mapped[list["ReportUpdate"]] = relationship(
        back_populates="report", order_by="ReportUpdate.created_at")

    __mapper_args__ = {"version_id_col": version}

    @property
    def unread(self) -> bool:
        return self.read_at is None


class ReportUpdate(db.Model):
    """One step the police took on a report, with their note (kept: the report's history)."""
    __tablename__ = "trafficking_report_update"
    id: Mapped[str] = id_column()
    report_id: Mapped[str] = mapped_column(ForeignKey("trafficking_report.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    note_enc: Mapped[str | None] = enc_column()
    note = Encrypted()

    report: Mapped[TraffickingReport] = relationship(back_populates="updates")
    created_by: Mapped[User | None] = relationship()
