"""Pure rules of return and follow-up: the visit schedule and the state of a visit.

The plans order the agencies to follow the lives of the people they rescued after their
return: "建立专门档案，跟踪了解其生活状况" (seeds/jiangsu-2021-2030-opinions.txt 二(三)3,
seeds/fujian-2013-2020-plan.txt 二(三)3; seeds/state-council-2008-2012-plan.txt and
seeds/jiangsu-2009-opinions.txt, (四)(4): "建立专门档案，跟踪了解被解救妇女儿童的生活状况").
The schedule of those visits (回访) is ours: by default 1, 3, 6 and 12 months after the return (``FOLLOWUP_SCHEDULE_MONTHS``).
"""
from __future__ import annotations

import datetime as dt

from ..placements.rules import add_months  # noqa: F401  (one month arithmetic, 民法典 art. 203)

VISIT_STATES = ("done", "due", "overdue", "upcoming")


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
