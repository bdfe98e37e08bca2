"""Ledgers for finance offices and schools: the medical self-pay ledger and the school enrolment ledger.

Medical self-pay ledger (DOMAIN.md 4; Jiangsu 2021–2030 二(三)1(6): 医疗费用经基本医保支付后的个人自付部分由
同级财政承担): one row per medical visit of a period (both days included), grouped by hospital with a
subtotal each and a grand total. Amounts are Decimal throughout; the totals are summed here in Python,
not by SQL SUM (SQLite keeps NUMERIC as floating point), so they are exact to the cent.

Who reads it:
- managers: the visits of the people in their scope (access.scoped_people), at any hospital;
- clinicians: the visits their own hospital recorded, and only those. Not limited to people whose
  referral is still live: a referral closes when treatment ends, yet the hospital still settles that
  visit with finance; the ledger shows nothing the hospital did not itself record.
- everyone else (caseworkers, partner officers, auditors, admins): refused, audited.

No names, on purpose: finance settles amounts per visit and needs a reference to a visit, not a
person's identity. A row carries the case number (the file's plaintext reference, DESIGN.md), the
date, the type of care and the three amounts. Ledger prints and exports are therefore aggregate
finance documents, not "identified" disclosures (disclosures.service, kinds identified_print /
identified_export): no Disclosure row is written, but every print and export is an audit row.

The school ledger (入学安置台账, Jiangsu 2021–2030 二(三)2(1)) reuses victimcare.schooling.service:
the same rows and access as the page /schooling/ledger, all pages at once. It too lists case numbers,
never names, and is not an identified disclosure.
"""
from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import func, select

from .. import access
from ..auth.models import Organisation
from ..extensions import db
from ..medical.models import MedicalVisit
from ..people.models import Person

CENT = Decimal("0.01")
AMOUNTS = ("total_cost", "insurance_paid", "self_pay")
# A ledger is printed whole; beyond this many rows the user is asked to narrow the period.
MAX_ROWS = 5000
MAX_YEARS = 10


class TooManyRows(Exception):
    def __init__(self, count: int):
        super().__init__(count)
        self.count = count


def zero_totals() -> dict[str, Decimal]:
    return {key: Decimal("0.00") for key in AMOUNTS}


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date

    def details(self) -> dict:
        return {"date_from": self.start.isoformat(), "date_to": self.end.isoformat()}


def this_month(today: dt.date) -> Period:
    first = today.replace(day=1)
    following = (first + dt.timedelta(days=32)).replace(day=1)
    return Period(first, following - dt.timedelta(days=1))


@dataclass(frozen=True)
class VisitRow:
    visit_id: str
    visit_date: dt.date
    case_number: str
    visit_type: str
    total_cost: Decimal
    insurance_paid: Decimal
    self_pay: Decimal


@dataclass
class HospitalGroup:
    hospital_id: int
    name: str
    rows: list[VisitRow] = field(default_factory=list)
    totals: dict[str, Decimal] = field(default_factory=zero_totals)


@dataclass
class MedicalLedger:
    period: Period
    hospital: Organisation | None  # None: all hospitals the reader reaches
    groups: list[HospitalGroup]
    totals: dict[str, Decimal]
    count: int

    def audit_details(self, **extra) -> dict:
        return {"ledger": "medical", **self.period.details(),
                "hospital_id": self.hospital.id if self.hospital else None, "rows": self.count, **extra}


# -- who may read the medical ledger, and which visits --------------------------------------------------
may_read_medical = access.may_read_medical_ledger  # who reads the medical ledger: a rule of access.py


def _visible_visits(user):
    """A where-clause on MedicalVisit: the visits the user's ledger may list."""
    if access.SCOPE.get(user.role) == "referral":
        return MedicalVisit.organisation_id == user.organisation_id
    return MedicalVisit.person_id.in_(access.scoped_people(user).with_only_columns(Person.id))


def hospitals_for(user) -> list[Organisation]:
    """The hospitals the user may pick: for a clinician their own; for a manager the hospitals under
    them plus any hospital that treated one of their people."""
    if not may_read_medical(user):
        return []
    if access.SCOPE.get(user.role) == "referral":
        return [user.organisation]
    treated = select(MedicalVisit.organisation_id).where(_visible_visits(user))
    return db.session.scalars(select(Organisation).where(
        ((Organisation.kind == "hospital") & access.organisation_scope(user)) | Organisation.id.in_(treated))
        .order_by(Organisation.name, Organisation.id)).all()


def medical_ledger(user, period: Period, hospital: Organisation | None = None) -> MedicalLedger:
    """The ledger of the visits the user may list in the period (both days included), of one hospital
    or of all. The caller has checked may_read_medical and that ``hospital`` is one of hospitals_for."""
    where = [_visible_visits(user), MedicalVisit.visit_date >= period.start, MedicalVisit.visit_date <= period.end]
    if hospital is not None:
        where.append(MedicalVisit.organisation_id == hospital.id)
    count = db.session.scalar(select(func.count(MedicalVisit.id)).where(*where))
    if count > MAX_ROWS:
        raise TooManyRows(count)
    query = (select(MedicalVisit.id, MedicalVisit.visit_date, Person.case_number, MedicalVisit.visit_type,
                    MedicalVisit.total_cost, MedicalVisit.insurance_paid, MedicalVisit.self_pay,
                    Organisation.id, Organisation.name)
             .join(Person, MedicalVisit.person_id == Person.id)
             .join(Organisation, MedicalVisit.organisation_id == Organisation.id)
             .where(*where)
             .order_by(Organisation.name, Organisation.id, MedicalVisit.visit_date, Person.case_number,
                       MedicalVisit.id))
    groups: dict[int, HospitalGroup] = {}
    totals = zero_totals()
    for vid, day, case_number, kind, total, insurance, self_pay, org_id, org_name in db.session.execute(query):
        row = VisitRow(vid, day, case_number, kind, _money(total), _money(insurance), _money(self_pay))
        group = groups.setdefault(org_id, HospitalGroup(org_id, org_name))
        group.rows.append(row)
        for key in AMOUNTS:
            group.totals[key] += getattr(row, key)
            totals[key] += getattr(row, key)
    return MedicalLedger(period, hospital, list(groups.values()), totals, count)


def _money(value) -> Decimal:
    return (value if isinstance(value, Decimal) else Decimal(str(value or 0))).quantize(CENT)


# -- the tables of the exports ------------------------------------------------------------------------
def medical_table(ledger: MedicalLedger, labels: dict) -> tuple[list, list]:
    """Header and rows: each visit, a subtotal per hospital, the grand total. Amounts stay numbers."""
    header = [labels["hospital"], labels["date"], labels["case_number"], labels["visit_type"],
              labels["total_cost"], labels["insurance_paid"], labels["self_pay"]]
    rows = []
    for group in ledger.groups:
        for r in group.rows:
            rows.append([group.name, r.visit_date.isoformat(), r.case_number,
                         str(labels["visit_types"].get(r.visit_type, r.visit_type)),
                         r.total_cost, r.insurance_paid, r.self_pay])
        rows.append([group.name, "", "", labels["subtotal"] % {"count": len(group.rows)},
                     *(group.totals[k] for k in AMOUNTS)])
    rows.append([labels["grand_total"], "", "", labels["grand_total_count"] % {"count": ledger.count},
                 *(ledger.totals[k] for k in AMOUNTS)])
    return header, rows


def money_columns(content: bytes, sheet_title: str, columns: tuple[int, ...]) -> bytes:
    """Show the amount columns of an exported sheet with two decimals (the cells stay numbers)."""
    book = load_workbook(io.BytesIO(content))
    sheet = book[sheet_title[:31]]
    for row in sheet.iter_rows(min_row=2):
        for index in columns:
            cell = row[index]
            if isinstance(cell.value, (int, float)):
                cell.number_format = "0.00"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def school_rows(user) -> list:
    """Every row of the user's school ledger page (all pages), or TooManyRows."""
    from ..schooling import service as schooling
    rows, total = schooling.ledger(user, 1, MAX_ROWS)
    if total > MAX_ROWS:
        raise TooManyRows(total)
    return rows
