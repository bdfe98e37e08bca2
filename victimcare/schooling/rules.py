"""Pure rules of the school section: who is of school age on the enrolment date.

School age, decided here: from the 6th birthday (义务教育法 art. 11: children who have reached six
enter school) through compulsory education (to 15) and senior secondary school, up to the day before
the 18th birthday (a child, 未成年人, as the seeds' "适龄儿童" are: State Council 2008–2012 plan
四(四)2(2), Jiangsu 2021–2030 二(三)2(1)). An adult's schooling is not this ledger's business.

With only an estimated birth year (no known date of birth) the person could be either of two ages on
a given day; a record is refused only when both are outside school age. Wrongly refusing a child
school costs more than an extra ledger line for a young adult (contrast employment/rules.py, where
the doubt falls the other way)."""
from __future__ import annotations

import datetime as dt

FIRST_AGE = 6
LAST_AGE = 17  # the day before the 18th birthday is the last day of school age


def possible_ages(person, day: dt.date) -> tuple[int, int] | None:
    """(youngest, oldest) the person can be on ``day``; None when no age is recorded."""
    if person.date_of_birth is not None and not person.birth_date_estimated:
        age = person.age_on(day)
        return age, age
    if person.birth_year:
        return day.year - person.birth_year - 1, day.year - person.birth_year
    return None


def school_age_problem(person, day: dt.date) -> str | None:
    """None if the person may be of school age on ``day``; else "too_young", "too_old" or "age_unknown"."""
    ages = possible_ages(person, day)
    if ages is None:
        return "age_unknown"
    youngest, oldest = ages
    if oldest < FIRST_AGE:
        return "too_young"
    if youngest > LAST_AGE:
        return "too_old"
    return None


def step_problem(state: str, day: dt.date | None) -> str | None:
    """A transfer or record-continuation step: a date when done, none otherwise."""
    if state == "done" and day is None:
        return "date_required"
    if state != "done" and day is not None:
        return "date_without_done"
    return None
