"""Pure rules of the legal-aid section: the status path and what each status needs.

Path (DOMAIN.md section 5): applied -> accepted -> in_progress -> concluded, or refused / withdrawn.
A status may skip forward (an application recorded late), never go back; refused is only possible
before acceptance; concluded, refused and withdrawn are final. Concluded needs the outcome and its date
(Jiangsu 2021–2030 二(三)1(7): the aid is followed through to its result)."""
from __future__ import annotations

import datetime as dt

ORDER = {"applied": 0, "accepted": 1, "in_progress": 2, "concluded": 3}
FINAL = ("concluded", "refused", "withdrawn")


def allowed_next(current: str | None) -> tuple[str, ...]:
    """Statuses an entry may take from ``current`` (None: a new entry may start anywhere)."""
    if current is None:
        return ("applied", "accepted", "in_progress", "concluded", "refused", "withdrawn")
    if current in FINAL:
        return (current,)
    forward = tuple(s for s, rank in ORDER.items() if rank >= ORDER[current])
    return forward + (("refused",) if current == "applied" else ()) + ("withdrawn",)


def outcome_problems(status: str, outcome: str | None, outcome_date: dt.date | None,
                     application_date: dt.date | None) -> dict[str, str]:
    """{field: message key} for the outcome fields."""
    problems = {}
    if status == "concluded":
        if not outcome:
            problems["outcome"] = "outcome_required"
        if outcome_date is None:
            problems["outcome_date"] = "outcome_date_required"
    elif status not in FINAL and (outcome or outcome_date):
        problems["status"] = "outcome_too_early"
    if outcome_date and application_date and outcome_date < application_date:
        problems["outcome_date"] = "before_application"
    return problems
