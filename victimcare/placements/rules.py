"""Pure rules of shelter placement and the three-month residence rule.

Sources:
- Jiangsu 2021-2030 opinions 二(三)1(5): a trafficking victim who has stayed in an assistance
  institution (救助管理机构) **more than 3 months** with identity still not established gets a
  residence registration application (落户申请) from civil affairs; public security registers the hukou.
- Jiangsu 2021-2030 二(二)3 and Fujian 2013-2020 二(二): a rescued child whose parents or other
  guardians cannot be found is placed by civil affairs and must not be left with the household that
  bought the child (不得由收买家庭继续抚养).
- Periods are counted as the Civil Code counts them (arts. 201, 203): the first day is not counted;
  a period in months ends on the corresponding day of the last month, or on that month's last day
  when it has no such day.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import Iterable, NamedTuple

PLACEMENT_TYPES = ("temporary_assistance", "transit_rehabilitation", "child_welfare", "family_foster",
                   "return_to_family", "independent_living")
# Stays that count as "staying in an assistance institution" (滞留在救助管理机构): the shelter
# (临时救助), the transit and rehabilitation base (中转康复) and the child welfare institution. Family
# foster care, return to a family and independent living are not institutional: the person no longer
# stays in an institution, so such a stay neither counts towards nor bridges the three months.
INSTITUTIONAL_TYPES = frozenset({"temporary_assistance", "transit_rehabilitation", "child_welfare"})
# Placements into a household: the form must say whose household it is.
HOUSEHOLD_TYPES = frozenset({"family_foster", "return_to_family"})
HOUSEHOLD_RELATIONS = ("none", "own_family", "relative", "foster_family", "buying_household")

RESIDENCE_MONTHS = 3
# The next admission on the day of discharge or the day after continues the stay (a transfer).
TRANSFER_GAP_DAYS = 1
# A due application not submitted to public security within this many days after the due date is
# overdue: a month is enough to collect the file's materials and the shelter's statement; beyond
# that the person waits without a hukou, school place or social security for no reason.
OVERDUE_AFTER_DAYS = 30
ADULT_AGE = 18

APPLICATION_STATUSES = ("drafted", "submitted", "registered", "withdrawn")
RESIDENCE_STATES = ("not_due", "due", "overdue", "drafted", "submitted", "registered", "ended",
                    "not_applicable")


class Stay(NamedTuple):
    """The three facts of a placement the rules need (a Placement row has the same attributes)."""
    admitted_on: dt.date
    discharged_on: dt.date | None
    placement_type: str = "temporary_assistance"


def add_months(day: dt.date, months: int) -> dt.date:
    """The corresponding day ``months`` later, or that month's last day when it has none (art. 203)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def residence_due_date(stay_started: dt.date) -> dt.date:
    """The first day on which the stay has lasted *more than* three months.

    The admission day is not counted (art. 201), so the three months end on the corresponding day
    three months later (or that month's last day) and the stay exceeds them the day after:
    2026-01-15 -> 2026-04-16; 2026-11-30 -> 2027-02-28 ends the period -> due 2027-03-01."""
    return add_months(stay_started, RESIDENCE_MONTHS) + dt.timedelta(days=1)


def current_stay_start(stays: Iterable, today: dt.date | None = None) -> dt.date | None:
    """The admission date that began the person's current continuous institutional stay, or None
    when the person is not in an institution now.

    Only institutional stays count. Stays chain when the next admission is on the discharge day or
    the day after (a transfer); a longer gap starts a new stay. "Current" means the last chain is
    still open (a stay with no discharge date) — or, as of a past ``today``, not yet discharged."""
    today = today or dt.date.today()
    spans = sorted((s.admitted_on, s.discharged_on) for s in stays
                   if s.placement_type in INSTITUTIONAL_TYPES and s.admitted_on <= today)
    start = end = None
    chain_open = False
    for admitted, discharged in spans:
        if discharged is not None and discharged > today:
            discharged = None  # seen as of ``today``: still there
        if start is not None and (chain_open or admitted <= end + dt.timedelta(days=TRANSFER_GAP_DAYS)):
            if discharged is None:
                chain_open = True
            elif not chain_open:
                end = max(end, discharged)
        else:
            start, end, chain_open = admitted, discharged, discharged is None
    return start if chain_open else None


def overlapping(stays: Iterable, admitted_on: dt.date, discharged_on: dt.date | None):
    """The first stay that overlaps [admitted_on, discharged_on), or None.

    A stay occupies its days from admission up to, not including, its discharge day, so a transfer
    (discharge and the next admission on the same day) does not overlap."""
    end = discharged_on or dt.date.max
    for stay in stays:
        other_end = stay.discharged_on or dt.date.max
        if admitted_on == stay.admitted_on or (admitted_on < other_end and stay.admitted_on < end):
            return stay
    return None


def buying_household_refused(age_on_admission: int | None, tracing_result: str, relation: str) -> bool:
    """A child (under 18 on the admission day; an unknown age counts as a child) whose guardians
    have not been found may not be placed with the household that bought the child
    (Jiangsu 2021 二(二)3; Fujian 2013 二(二))."""
    if relation != "buying_household":
        return False
    is_child = age_on_admission is None or age_on_admission < ADULT_AGE
    return is_child and tracing_result != "guardian_found"


@dataclass(frozen=True)
class ResidenceStatus:
    state: str                       # one of RESIDENCE_STATES
    stay_started: dt.date | None = None
    due_on: dt.date | None = None
    days_left: int | None = None     # not_due: days until the due date
    days_past_due: int | None = None  # due/overdue/drafted: days since the due date
    overdue: bool = False            # stands out: more than OVERDUE_AFTER_DAYS past due, not submitted

    @property
    def applies(self) -> bool:
        """Is the person on the residence registration list?"""
        return self.state not in ("ended", "not_applicable")


def residence_state(*, identity_status: str, stay_started: dt.date | None, application_status: str | None,
                    today: dt.date, application_due_on: dt.date | None = None) -> ResidenceStatus:
    """Where a person stands under the three-month rule.

    A registered hukou is the rule's outcome and stays shown as such. Otherwise an established
    identity ends the rule. A live application (drafted, submitted) carries the state even if the
    stay ended since. Without one: not yet due (days left), due, or overdue (more than
    OVERDUE_AFTER_DAYS past the due date). A withdrawn application counts as none."""
    if application_status == "withdrawn":
        application_status = application_due_on = None
    if application_status == "registered":
        return ResidenceStatus("registered", stay_started, application_due_on)
    if identity_status == "identified":
        return ResidenceStatus("ended", stay_started)
    due_on = residence_due_date(stay_started) if stay_started else application_due_on
    if application_status == "submitted":
        return ResidenceStatus("submitted", stay_started, due_on)
    if due_on is None:
        return ResidenceStatus("not_applicable")
    past = (today - due_on).days
    if application_status == "drafted":
        return ResidenceStatus("drafted", stay_started, due_on, days_past_due=max(past, 0),
                               overdue=past > OVERDUE_AFTER_DAYS)
    if past < 0:
        return ResidenceStatus("not_due", stay_started, due_on, days_left=-past)
    if past > OVERDUE_AFTER_DAYS:
        return ResidenceStatus("overdue", stay_started, due_on, days_past_due=past, overdue=True)
    return ResidenceStatus("due", stay_started, due_on, days_past_due=past)
