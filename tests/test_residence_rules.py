"""The three-month residence rule and the placement rules, on their edges (pure functions)."""
import datetime as dt

import pytest

from victimcare.placements import rules
from victimcare.placements.rules import Stay, current_stay_start, residence_due_date, residence_state

D = dt.date
TODAY = D(2026, 11, 25)


# -- due date (Civil Code arts. 201, 203) ------------------------------------------------------------
@pytest.mark.parametrize("admitted, due", [
    (D(2026, 1, 15), D(2026, 4, 16)),    # the design's example
    (D(2026, 11, 30), D(2027, 3, 1)),    # Feb has no 30th: the period ends Feb 28, due the day after
    (D(2026, 1, 31), D(2026, 5, 1)),     # Apr has no 31st: ends Apr 30, due May 1
    (D(2026, 3, 31), D(2026, 7, 1)),     # Jun 30 ends it
    (D(2026, 1, 30), D(2026, 5, 1)),     # Apr 30 exists: ends Apr 30, due May 1
    (D(2026, 1, 29), D(2026, 4, 30)),
    (D(2027, 11, 29), D(2028, 3, 1)),    # leap year: Feb 29 2028 exists and ends the period
    (D(2027, 11, 30), D(2028, 3, 1)),    # leap year: no Feb 30, Feb 29 ends it
    (D(2026, 11, 29), D(2027, 3, 1)),    # common year: no Feb 29, Feb 28 ends it
    (D(2027, 11, 28), D(2028, 2, 29)),   # due on the leap day itself
    (D(2028, 2, 29), D(2028, 5, 30)),    # admitted on the leap day
    (D(2026, 10, 15), D(2027, 1, 16)),   # across the year end
    (D(2026, 12, 31), D(2027, 4, 1)),    # Mar 31 exists
])
def test_due_date_counts_like_the_civil_code(admitted, due):
    assert residence_due_date(admitted) == due


def test_the_day_before_the_due_date_is_exactly_three_months():
    assert rules.add_months(D(2026, 1, 15), 3) == D(2026, 4, 15)
    assert rules.add_months(D(2026, 11, 30), 3) == D(2027, 2, 28)
    assert rules.add_months(D(2027, 11, 30), 3) == D(2028, 2, 29)


# -- the current continuous stay ----------------------------------------------------------------------
def test_one_open_stay_starts_on_its_admission():
    assert current_stay_start([Stay(D(2026, 5, 1), None)], TODAY) == D(2026, 5, 1)


def test_no_stays_or_all_discharged_means_no_current_stay():
    assert current_stay_start([], TODAY) is None
    assert current_stay_start([Stay(D(2026, 5, 1), D(2026, 6, 1))], TODAY) is None


def test_transfer_on_the_discharge_day_keeps_the_stay_continuous():
    stays = [Stay(D(2026, 5, 1), D(2026, 6, 10), "temporary_assistance"),
             Stay(D(2026, 6, 10), None, "transit_rehabilitation")]
    assert current_stay_start(stays, TODAY) == D(2026, 5, 1)


def test_transfer_the_next_day_keeps_the_stay_continuous():
    stays = [Stay(D(2026, 5, 1), D(2026, 6, 10)), Stay(D(2026, 6, 11), None, "child_welfare")]
    assert current_stay_start(stays, TODAY) == D(2026, 5, 1)


def test_a_two_day_gap_restarts_the_stay():
    stays = [Stay(D(2026, 5, 1), D(2026, 6, 10)), Stay(D(2026, 6, 12), None)]
    assert current_stay_start(stays, TODAY) == D(2026, 6, 12)


def test_a_chain_of_transfers_in_any_order():
    stays = [Stay(D(2026, 7, 1), None), Stay(D(2026, 5, 1), D(2026, 6, 1)), Stay(D(2026, 6, 2), D(2026, 7, 1)),
             Stay(D(2025, 1, 1), D(2025, 3, 1))]
    assert current_stay_start(stays, TODAY) == D(2026, 5, 1)


def test_non_institutional_stays_neither_count_nor_bridge():
    family = [Stay(D(2026, 5, 1), None, "family_foster")]
    assert current_stay_start(family, TODAY) is None
    # shelter -> foster family for a month -> shelter: the stay restarts on the second admission
    stays = [Stay(D(2026, 3, 1), D(2026, 5, 1)), Stay(D(2026, 5, 1), D(2026, 6, 1), "family_foster"),
             Stay(D(2026, 6, 1), None)]
    assert current_stay_start(stays, TODAY) == D(2026, 6, 1)
    for kind in ("return_to_family", "independent_living"):
        assert current_stay_start([Stay(D(2026, 5, 1), None, kind)], TODAY) is None


def test_institutional_types_are_the_three_institutions():
    assert rules.INSTITUTIONAL_TYPES == {"temporary_assistance", "transit_rehabilitation", "child_welfare"}


# -- the state ------------------------------------------------------------------------------------------
def state(stay_started=D(2026, 1, 15), identity="unidentified", application=None, today=TODAY, app_due=None):
    return residence_state(identity_status=identity, stay_started=stay_started, application_status=application,
                           today=today, application_due_on=app_due)


def test_not_due_counts_the_days_left():
    s = state(today=D(2026, 4, 15))
    assert (s.state, s.days_left, s.due_on, s.overdue) == ("not_due", 1, D(2026, 4, 16), False)
    assert state(today=D(2026, 1, 15)).days_left == 91


def test_due_on_the_due_date_and_up_to_thirty_days_after():
    s = state(today=D(2026, 4, 16))
    assert (s.state, s.days_past_due, s.overdue) == ("due", 0, False)
    s = state(today=D(2026, 5, 16))
    assert (s.state, s.days_past_due, s.overdue) == ("due", 30, False)


def test_overdue_more_than_thirty_days_after_the_due_date():
    s = state(today=D(2026, 5, 17))
    assert (s.state, s.days_past_due, s.overdue) == ("overdue", 31, True)


def test_a_draft_carries_the_state_and_is_overdue_when_not_submitted_in_time():
    assert state(application="drafted", today=D(2026, 4, 20)).state == "drafted"
    assert not state(application="drafted", today=D(2026, 5, 16)).overdue
    late = state(application="drafted", today=D(2026, 5, 17))
    assert (late.state, late.overdue) == ("drafted", True)


def test_submitted_and_registered():
    assert state(application="submitted").state == "submitted"
    assert not state(application="submitted", today=D(2027, 1, 1)).overdue
    assert state(application="registered").state == "registered"
    # a registration stays shown even when the identity is established later
    assert state(application="registered", identity="identified").state == "registered"


def test_identity_established_before_the_due_date_ends_the_rule():
    s = state(identity="identified", today=D(2026, 3, 1))
    assert (s.state, s.applies) == ("ended", False)


def test_identity_established_after_the_due_date_ends_the_rule():
    assert state(identity="identified", today=D(2026, 8, 1)).state == "ended"
    assert state(identity="identified", application="drafted", today=D(2026, 8, 1)).state == "ended"
    assert state(identity="identified", application="submitted", today=D(2026, 8, 1)).state == "ended"


def test_not_in_an_institution_is_not_applicable_but_a_live_application_still_shows():
    assert state(stay_started=None).state == "not_applicable"
    assert not state(stay_started=None).applies
    s = state(stay_started=None, application="drafted", app_due=D(2026, 4, 16))
    assert (s.state, s.due_on) == ("drafted", D(2026, 4, 16))
    assert state(stay_started=None, application="withdrawn", app_due=D(2026, 4, 16)).state == "not_applicable"


def test_a_withdrawn_application_counts_as_none():
    assert state(application="withdrawn", today=D(2026, 4, 20)).state == "due"


# -- overlaps and the buying household -------------------------------------------------------------------
def test_overlap_allows_a_same_day_transfer_and_refuses_overlaps():
    stays = [Stay(D(2026, 5, 1), D(2026, 6, 10))]
    assert rules.overlapping(stays, D(2026, 6, 10), None) is None          # admitted on the discharge day
    assert rules.overlapping(stays, D(2026, 4, 1), D(2026, 5, 1)) is None  # discharged on its admission day
    assert rules.overlapping(stays, D(2026, 6, 9), None) is stays[0]
    assert rules.overlapping(stays, D(2026, 4, 1), D(2026, 5, 2)) is stays[0]
    assert rules.overlapping(stays, D(2026, 5, 1), D(2026, 5, 1)) is stays[0]  # same admission day
    assert rules.overlapping([Stay(D(2026, 5, 1), None)], D(2027, 1, 1), None) is not None
    assert rules.overlapping([Stay(D(2026, 5, 1), None)], D(2026, 1, 1), D(2026, 4, 30)) is None


@pytest.mark.parametrize("age, tracing, relation, refused", [
    (10, "not_started", "buying_household", True),
    (17, "guardian_not_found", "buying_household", True),
    (17, "searching", "buying_household", True),
    (None, "searching", "buying_household", True),    # unknown age: treated as a child
    (18, "guardian_not_found", "buying_household", False),  # an adult decides for herself
    (10, "guardian_found", "buying_household", False),
    (10, "not_started", "foster_family", False),
    (10, "not_started", "own_family", False),
])
def test_a_child_without_guardians_is_never_placed_with_the_buying_household(age, tracing, relation, refused):
    assert rules.buying_household_refused(age, tracing, relation) is refused
