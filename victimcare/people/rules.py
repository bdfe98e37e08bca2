"""Pure rules of the identity section: ID numbers, division codes, age bands, case numbers."""
from __future__ import annotations

import datetime as dt
import re

from .. import regions

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_ID_SHAPE = re.compile(r"^\d{17}[\dX]$")
# Province-level prefixes of GB/T 2260 codes.
PROVINCE_PREFIXES = frozenset({"11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34",
                               "35", "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52",
                               "53", "54", "61", "62", "63", "64", "65", "71", "81", "82"})
_DIVISION_SHAPE = re.compile(r"^\d{6}$")


def normalise_id_number(value: str) -> str:
    return "".join(value.split()).upper()


def id_check_digit(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS)) % 11]


def id_number_problem(value: str) -> str | None:
    """Why a resident ID number (GB 11643) is invalid, or None. Returns a message key."""
    value = normalise_id_number(value)
    if not _ID_SHAPE.match(value):
        return "shape"
    if value[:2] not in PROVINCE_PREFIXES:
        return "region"
    if id_birth_date(value) is None:
        return "birth_date"
    if id_check_digit(value[:17]) != value[17]:
        return "check_digit"
    return None


def id_birth_date(value: str) -> dt.date | None:
    try:
        return dt.date(int(value[6:10]), int(value[10:12]), int(value[12:14]))
    except ValueError:
        return None


def division_code_problem(code: str) -> str | None:
    """Shape of a GB/T 2260 administrative division code: six digits, a real province prefix,
    and no county part without a city part."""
    if not _DIVISION_SHAPE.match(code):
        return "shape"
    if code[:2] not in PROVINCE_PREFIXES:
        return "province"
    if code[2:4] == "00" and code[4:] != "00":
        return "shape"
    return None


def origin_code_problem(code: str) -> str | None:
    """A place of origin given as a code: well formed, and in the shipped division table."""
    return division_code_problem(code) or (None if regions.is_valid(code) else "unknown")


def origin_choice_problem(province: str | None, city: str | None, county: str | None) -> tuple[str, str] | None:
    """What is wrong with a place of origin picked level by level, as (level, message key), or None.

    Each level must be in the table and directly under the level above it; a lower level without
    the one above cannot be told apart from a tampered post, so it is refused the same way."""
    for level, code, parent in (("province", province, None), ("city", city, province),
                                ("county", county, city)):
        if not code:
            continue
        if level != "province" and not parent:
            return level, "missing_parent"
        division = regions.get(code)
        if division is None or division.parent != parent:
            return level, "unknown" if division is None else "not_under_parent"
    return None


def chosen_origin(province: str | None, city: str | None, county: str | None) -> str | None:
    """The code stored: the most specific level chosen."""
    return county or city or province or None


AGE_BANDS = (("0-5", 0, 5), ("6-13", 6, 13), ("14-15", 14, 15), ("16-17", 16, 17),
             ("18-34", 18, 34), ("35-59", 35, 59), ("60+", 60, 200))


def age_band(age: int | None) -> str | None:
    if age is None:
        return None
    for label, low, high in AGE_BANDS:
        if low <= age <= high:
            return label
    return None


def birth_years_for_band(label: str, today: dt.date) -> tuple[int, int] | None:
    """Birth years whose people are (by year) in the band today: (earliest, latest)."""
    for name, low, high in AGE_BANDS:
        if name == label:
            return today.year - high, today.year - low
    return None


def format_case_number(region_code: str, year: int, sequence: int) -> str:
    """Region of the registering organisation, year, sequence: identifies no one."""
    return f"{region_code}-{year}-{sequence:05d}"
