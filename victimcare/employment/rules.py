"""Pure rules of the training-and-jobs section.

Minimum age 16 on the service (start) date: State Council 2008–2012 plan 四(四)2(2) ("16周岁以上"),
Fujian 2013–2020 二(三)7, Jiangsu 2021–2030 二(三)2(2); the Labour Law art. 15 forbids employing
anyone under 16. The person turns 16 on their 16th birthday (that day is accepted, the day before
refused: ``Person.age_on``).

With only an estimated birth year the doubt falls on the side of the child: the record is accepted
only when the person is certainly 16, i.e. from 31 December of (birth year + 16), the last possible
16th birthday. Wrongly offering a 15-year-old a job is the harm these plans exist to prevent
(contrast schooling/rules.py)."""
from __future__ import annotations

import datetime as dt

MINIMUM_AGE = 16
FINISHED = ("completed", "employed", "discontinued")


def _exact_birth(person) -> bool:
    return person.date_of_birth is not None and not person.birth_date_estimated


def age_problem(person, day: dt.date) -> str | None:
    """None if the person is certainly 16 on ``day``; else "too_young", "not_certain" (estimated
    birth year, might be 16 or not) or "age_unknown"."""
    if _exact_birth(person):
        return None if person.age_on(day) >= MINIMUM_AGE else "too_young"
    if not person.birth_year:
        return "age_unknown"
    if day >= certain_from(person.birth_year):
        return None
    return "not_certain" if day.year - person.birth_year >= MINIMUM_AGE else "too_young"


def certain_from(birth_year: int) -> dt.date:
    """With only a birth year: the last possible 16th birthday."""
    return dt.date(birth_year + MINIMUM_AGE, 12, 31)


def dates_problem(start: dt.date | None, end: dt.date | None, outcome: str) -> str | None:
    if start and end and end < start:
        return "end_before_start"
    if outcome in FINISHED and end is None:
        return "end_required"
    return None
