"""Pure rules of return and follow-up: the visit schedule and the state of a visit.

The plans order the agencies to follow the lives of the people they rescued after their
return: "建立专门档案，跟踪了解其生活状况" (seeds/jiangsu-2021-2030-opinions.txt 二(三)3,
seeds/fujian-2013-2020-plan.txt 二(三)3; seeds/state-council-2008-2012-plan.txt and
seeds/jiangsu-2009-opinions.txt, (四)(4): "建立专门档案，跟踪了解被解救妇女儿童的生活状况").
The schedule of those visits (回访) is ours: by default 1, 3, 6 and 12 months after the return (``FOLLOWUP_SCHEDULE_MONTHS``).
"""
from __future__ import annotations

import calendar
import datetime as dt

VISIT_STATES = ("done", "due", "overdue", "upcoming")


def add_months(day: dt.date, months: int) -> dt.date:
    """The corresponding day ``months`` calendar months later, or that month's last day when it
    has no such day: the month arithmetic of DESIGN.md (民法典 art. 203), as for the residence rule.

    2026-01-31 + 1 -> 2026-02-28; 2028-01-31 + 1 -> 2028-02-29; 2028-02-29 + 12 -> 2029-02-28."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def check_schedule(months) -> list[int]:
    """A usable schedule from configuration: distinct positive whole months, in order."""
    if isinstance(months, (str, bytes)) or not hasattr(months, "__iter__"):
        raise ValueError(f"FOLLOWUP_SCHEDULE_MONTHS must be a list of months, not {months!r}")
    values = list(months)
    if not values or any(isinstance(m, bool) or not isinstance(m, int) or m <= 0 for m in values):
        raise ValueError(f"FOLLOWUP_SCHEDULE_MONTHS must be positive whole months, not {months!r}")
    return sorted(set(values))


def visit_schedule(return_date: dt.date, months) -> list[tuple[int, dt.date]]:
    """(months after the return, due date) for each follow-up visit, earliest first."""
    return [(m, add_months(return_date, m)) for m in check_schedule(months)]


def visit_state(due_date: dt.date | None, done_on: dt.date | None, today: dt.date) -> str:
    """done once recorded (whenever); otherwise *due* on its due date itself, *overdue* from the
    day after, *upcoming* before it. A visit may be made and recorded early."""
    if done_on is not None:
        return "done"
    if due_date is None or today < due_date:
        return "upcoming"
    return "due" if today == due_date else "overdue"


def days_overdue(due_date: dt.date, today: dt.date) -> int:
    """0 on the due date, 1 the day after, ..."""
    return max(0, (today - due_date).days)
