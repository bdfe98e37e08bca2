"""Pure rules of the identity section, and case-number allocation."""
import datetime as dt
import re

import pytest

from victimcare.people import rules
from victimcare.people.rules import (age_band, birth_years_for_band, division_code_problem, id_birth_date,
                                     id_check_digit, id_number_problem, normalise_id_number)

# Published GB 11643 examples (the standard's own and a widely quoted one).
VALID_X = "11010519491231002X"
VALID_DIGIT = "440524188001010014"


def _with_check(first17: str) -> str:
    return first17 + id_check_digit(first17)


def test_check_digit_of_published_examples():
    assert id_check_digit(VALID_X[:17]) == "X"
    assert id_check_digit(VALID_DIGIT[:17]) == "4"


@pytest.mark.parametrize("number", [VALID_X, VALID_DIGIT, _with_check("32010220100101002"),
                                    "11010519491231002x", " 110105 19491231 002X "])
def test_valid_id_numbers(number):
    assert id_number_problem(number) is None


def test_normalise_id_number():
    assert normalise_id_number(" 110105 19491231002x") == VALID_X


@pytest.mark.parametrize("number, problem", [
    (VALID_DIGIT[:17] + "5", "check_digit"),
    (VALID_X[:17] + "0", "check_digit"),
    (VALID_DIGIT[:17] + "X", "check_digit"),
    ("110105194902300021", "birth_date"),      # 30 February
    ("110105194913010021", "birth_date"),      # month 13
    ("990105194912310021", "region"),          # 99 is no province
    ("000105194912310021", "region"),
    ("11010519491231002", "shape"),            # 17 characters
    ("1101051949123100211", "shape"),          # 19 characters
    ("11010519491231002Y", "shape"),
    ("X10105194912310021", "shape"),
    ("", "shape"),
])
def test_invalid_id_numbers(number, problem):
    assert id_number_problem(number) == problem


def test_bad_birth_date_is_reported_even_with_a_matching_check_digit():
    assert id_number_problem(_with_check("11010519490230002")) == "birth_date"
    assert id_number_problem(_with_check("99010519491231002")) == "region"


def test_birth_date_from_id_number():
    assert id_birth_date(VALID_X) == dt.date(1949, 12, 31)
    assert id_birth_date("110105194902300021") is None


@pytest.mark.parametrize("code, problem", [
    ("320102", None), ("320100", None), ("320000", None), ("530102", None), ("810000", None),
    ("32010", "shape"), ("3201020", "shape"), ("32010a", "shape"), ("", "shape"), (" 320102", "shape"),
    ("320001", "shape"),                      # a county part without a city part
    ("990102", "province"), ("000000", "province"), ("100102", "province"),
])
def test_division_code(code, problem):
    assert division_code_problem(code) == problem


@pytest.mark.parametrize("age, band", [
    (None, None), (0, "0-5"), (5, "0-5"), (6, "6-13"), (13, "6-13"), (14, "14-15"), (15, "14-15"),
    (16, "16-17"), (17, "16-17"), (18, "18-34"), (34, "18-34"), (35, "35-59"), (59, "35-59"),
    (60, "60+"), (110, "60+"), (-1, None),
])
def test_age_band(age, band):
    assert age_band(age) == band


def test_birth_years_for_band():
    today = dt.date(2026, 11, 25)
    assert birth_years_for_band("14-15", today) == (2011, 2012)
    assert birth_years_for_band("0-5", today) == (2021, 2026)
    assert birth_years_for_band("nonsense", today) is None
    # The bands cover every age without gaps or overlaps.
    ages = [a for _label, low, high in rules.AGE_BANDS for a in range(low, min(high, 120) + 1)]
    assert ages == list(range(0, 121))


def test_format_case_number():
    assert rules.format_case_number("320102", 2026, 7) == "320102-2026-00007"
    assert rules.format_case_number("320102", 2026, 12345) == "320102-2026-12345"


CASE_NUMBER = re.compile(r"^(\d{6})-(\d{4})-(\d{5})$")


def test_case_numbers_count_per_region_and_year(orgs, make_person):
    year = dt.date.today().year
    a1 = make_person(orgs["shelter_a"])            # region 320102
    a2 = make_person(orgs["shelter_a"])
    b1 = make_person(orgs["shelter_b"])            # region 320104
    h = make_person(orgs["bureau"])                # region 320100
    a3 = make_person(orgs["shelter_a"])
    for person in (a1, a2, b1, h, a3):
        assert CASE_NUMBER.match(person.case_number), person.case_number
    assert a1.case_number == f"320102-{year}-00001"
    assert a2.case_number == f"320102-{year}-00002"
    assert a3.case_number == f"320102-{year}-00003"
    assert b1.case_number == f"320104-{year}-00001"
    assert h.case_number == f"320100-{year}-00001"


def test_case_number_sequence_restarts_each_year(app, orgs):
    from victimcare.extensions import db
    from victimcare.people.service import next_case_number
    assert next_case_number("320102", 2025) == "320102-2025-00001"
    assert next_case_number("320102", 2026) == "320102-2026-00001"
    assert next_case_number("320102", 2025) == "320102-2025-00002"
    db.session.commit()
