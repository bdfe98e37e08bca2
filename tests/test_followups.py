"""Return and follow-up: the schedule rule, the return and visit forms, due/overdue, permissions."""
import datetime as dt

import pytest
from sqlalchemy import event, func, select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.followups import rules, service
from victimcare.followups.models import FollowupVisit, PersonReturn
from victimcare.people.models import PersonRevision
from victimcare.referrals import service as referrals

from .conftest import login, post_form

D = dt.date
TODAY = dt.date.today()


# -- the pure rules ----------------------------------------------------------------------------------
def test_schedule_from_a_month_end():
    assert rules.visit_schedule(D(2026, 1, 31), [1, 3, 6, 12]) == [
        (1, D(2026, 2, 28)), (3, D(2026, 4, 30)), (6, D(2026, 7, 31)), (12, D(2027, 1, 31))]


@pytest.mark.parametrize("start, months, expected", [
    (D(2028, 1, 31), 1, D(2028, 2, 29)),    # leap year: 29 February exists
    (D(2027, 1, 31), 1, D(2027, 2, 28)),
    (D(2028, 2, 29), 12, D(2029, 2, 28)),   # from a leap day to a common year
    (D(2028, 2, 29), 48, D(2032, 2, 29)),
    (D(2027, 2, 28), 12, D(2028, 2, 28)),   # the corresponding day, not the month's end
    (D(2026, 11, 30), 3, D(2027, 2, 28)),
    (D(2026, 12, 15), 1, D(2027, 1, 15)),   # across the year
    (D(2026, 3, 31), 6, D(2026, 9, 30)),
    (D(2026, 1, 15), 1, D(2026, 2, 15)),
])
def test_add_months(start, months, expected):
    assert rules.add_months(start, months) == expected


@pytest.mark.parametrize("bad", [[], [0], [-1], ["1"], "1,3", None, [True], [1.5]])
def test_a_broken_schedule_setting_fails_loudly(bad):
    with pytest.raises(ValueError):
        rules.check_schedule(bad)


def test_schedule_setting_is_sorted_and_deduplicated():
    assert rules.check_schedule([6, 1, 1]) == [1, 6]


@pytest.mark.parametrize("today, done_on, state", [
    (D(2026, 3, 9), None, "upcoming"),
    (D(2026, 3, 10), None, "due"),          # due on its date
    (D(2026, 3, 11), None, "overdue"),      # overdue from the day after
    (D(2027, 1, 1), D(2026, 3, 12), "done"),
    (D(2026, 3, 1), D(2026, 3, 1), "done"),  # made early
])
def test_visit_state_edges(today, done_on, state):
    assert rules.visit_state(D(2026, 3, 10), done_on, today) == state


# -- fixtures ----------------------------------------------------------------------------------------
@pytest.fixture
def caseworker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def person(orgs, make_person, caseworker):
    return make_person(orgs["shelter_a"], by=caseworker, name="回访对象", nationality="CHN",
                       rescue_date=D(2025, 6, 1))


def family_return(day="2026-01-31", **extra):
    return {"kind": "family", "return_date": day, "wish_confirmed": "y", "wish_expressed_by": "person",
            "destination": "云南省某村", **extra}


def make_return(person, user, day=D(2026, 1, 31)):
    ret = service.record_return(person, {"kind": "family", "return_date": day, "wish_confirmed": True,
                                         "wish_expressed_by": "guardian"}, user)
    db.session.commit()
    return ret


def visits_of(person):
    return db.session.scalars(select(FollowupVisit).where(FollowupVisit.person_id == person.id)
                              .order_by(FollowupVisit.due_date)).all()


def denials(object_id):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied",
                                                       AuditEvent.object_id == object_id)).all()


# -- recording the return ----------------------------------------------------------------------------
def test_recording_a_return_schedules_the_visits(client, caseworker, person):
    login(client, caseworker)
    url = f"/people/{person.id}/followups/return"
    response = post_form(client, url, family_return())
    assert response.status_code == 302
    ret = db.session.scalar(select(PersonReturn))
    assert (ret.kind, ret.return_date, ret.wish_confirmed) == ("family", D(2026, 1, 31), True)
    assert ret.destination == "云南省某村" and "云南" not in ret.destination_enc
    assert [(v.months, v.due_date) for v in visits_of(person)] == [
        (1, D(2026, 2, 28)), (3, D(2026, 4, 30)), (6, D(2026, 7, 31)), (12, D(2027, 1, 31))]
    revision = db.session.scalar(select(PersonRevision).where(PersonRevision.section == "followups"))
    assert revision.entry_id == ret.id and "2026-02-28" in revision.changes
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "create",
                                                      AuditEvent.section == "followups"))
    page = client.get(f"/people/{person.id}/followups")
    assert "云南省某村" in page.text and "2027-01-31" in page.text


def test_the_schedule_follows_the_configuration(app, caseworker, person):
    app.config["FOLLOWUP_SCHEDULE_MONTHS"] = [2, 24]
    make_return(person, caseworker, D(2026, 1, 31))
    assert [(v.months, v.due_date) for v in visits_of(person)] == [(2, D(2026, 3, 31)), (24, D(2028, 1, 31))]


def test_the_default_schedule_is_in_the_configuration(app):
    assert app.config["FOLLOWUP_SCHEDULE_MONTHS"] == [1, 3, 6, 12]


@pytest.mark.parametrize("data, field_error", [
    ({"kind": "", "return_date": "2026-01-31"}, "kind"),
    (family_return(day=""), "return_date"),
    (family_return(day=(TODAY + dt.timedelta(days=1)).isoformat()), "return_date"),   # tomorrow
    (family_return(day="2026-02-30"), "return_date"),
    (family_return(wish_confirmed=""), "wish_confirmed"),
    (family_return(wish_expressed_by=""), "wish_expressed_by"),
    ({"kind": "handover", "return_date": "2026-01-31", "wish_confirmed": "y", "wish_expressed_by": "person",
      "receiving_region_code": "530102"}, "receiving_bureau"),
    ({"kind": "handover", "return_date": "2026-01-31", "wish_confirmed": "y", "wish_expressed_by": "person",
      "receiving_bureau": "某县民政局"}, "receiving_region_code"),
    ({"kind": "handover", "return_date": "2026-01-31", "wish_confirmed": "y", "wish_expressed_by": "person",
      "receiving_bureau": "某县民政局", "receiving_region_code": "990102"}, "receiving_region_code"),
    ({"kind": "handover", "return_date": "2026-01-31", "receiving_bureau": "某县民政局",
      "receiving_region_code": "530102"}, "wish_confirmed"),
    ({"kind": "repatriation", "return_date": "2026-01-31", "handover_point": "河口口岸"}, "country"),
    ({"kind": "repatriation", "return_date": "2026-01-31", "country": "VNM"}, "handover_point"),
])
def test_return_form_errors_keep_input_and_save_nothing(client, caseworker, person, data, field_error):
    login(client, caseworker)
    data = {**data, "notes": "保留的备注"}
    response = post_form(client, f"/people/{person.id}/followups/return", data)
    assert response.status_code == 200
    assert f'id="{field_error}-error"' in response.text
    assert "保留的备注" in response.text
    assert db.session.scalar(select(func.count()).select_from(PersonReturn)) == 0
    assert db.session.scalar(select(func.count()).select_from(FollowupVisit)) == 0


def test_a_return_dated_today_is_accepted(client, caseworker, person):
    login(client, caseworker)
    response = post_form(client, f"/people/{person.id}/followups/return", family_return(day=TODAY.isoformat()))
    assert response.status_code == 302


def test_return_before_the_rescue_is_refused(client, caseworker, person):
    login(client, caseworker)
    response = post_form(client, f"/people/{person.id}/followups/return", family_return(day="2025-05-31"))
    assert response.status_code == 200 and 'id="return_date-error"' in response.text
    assert db.session.scalar(select(PersonReturn.id)) is None
    response = post_form(client, f"/people/{person.id}/followups/return", family_return(day="2025-06-01"))
    assert response.status_code == 302


def test_repatriation_is_refused_for_a_chinese_national(client, caseworker, person):
    login(client, caseworker)
    data = {"kind": "repatriation", "return_date": "2026-01-31", "country": "VNM", "handover_point": "河口口岸"}
    response = post_form(client, f"/people/{person.id}/followups/return", data)
    assert response.status_code == 200 and 'id="kind-error"' in response.text and "河口口岸" in response.text
    assert db.session.scalar(select(PersonReturn.id)) is None
    with pytest.raises(service.FollowupError):
        service.record_return(person, {**data, "return_date": D(2026, 1, 31)}, caseworker)


def test_repatriation_needs_a_recorded_nationality(orgs, make_person, caseworker):
    unknown = make_person(orgs["shelter_a"], by=caseworker, nationality=None)
    with pytest.raises(service.FollowupError, match="repatriation_no_nationality"):
        service.record_return(unknown, {"kind": "repatriation", "return_date": D(2026, 1, 31),
                                        "country": "VNM", "handover_point": "口岸"}, caseworker)


def test_repatriation_of_a_foreign_national(client, orgs, make_person, caseworker):
    foreign = make_person(orgs["shelter_a"], by=caseworker, nationality="VNM", id_number=None)
    login(client, caseworker)
    form = client.get(f"/people/{foreign.id}/followups/return")
    assert 'selected value="VNM"' in form.text  # the person's nationality is offered first
    data = {"kind": "repatriation", "return_date": "2026-03-01", "country": "VNM", "handover_point": "河口口岸",
            "receiving_bureau": "不相关", "wish_confirmed": "y"}
    assert post_form(client, f"/people/{foreign.id}/followups/return", data).status_code == 302
    ret = db.session.scalar(select(PersonReturn))
    assert (ret.country, ret.handover_point) == ("VNM", "河口口岸")
    assert ret.receiving_bureau is None and ret.wish_confirmed is False  # fields of other kinds are cleared


def test_handover_to_the_region_of_origin(client, caseworker, person):
    login(client, caseworker)
    data = {"kind": "handover", "return_date": "2026-01-10", "wish_confirmed": "y", "wish_expressed_by": "person",
            "receiving_bureau": "昆明市民政局", "receiving_region_code": "530100", "receiving_contact": "0871-1234567"}
    assert post_form(client, f"/people/{person.id}/followups/return", data).status_code == 302
    ret = db.session.scalar(select(PersonReturn))
    assert (ret.receiving_bureau, ret.receiving_region_code, ret.receiving_contact) == \
        ("昆明市民政局", "530100", "0871-1234567")
    assert "1234567" not in ret.receiving_contact_enc and "昆明" not in ret.receiving_bureau_enc


def test_a_second_return_is_refused(caseworker, person):
    make_return(person, caseworker)
    with pytest.raises(service.FollowupError, match="already_returned"):
        make_return(person, caseworker, D(2026, 2, 1))


def test_correcting_the_return_date_moves_only_the_visits_not_made(client, caseworker, person):
    ret = make_return(person, caseworker, D(2026, 1, 31))
    first = visits_of(person)[0]
    service.record_visit(first, person, {"done_on": D(2026, 3, 1), "method": "phone",
                                         "living_conditions": "稳定"}, caseworker, first.version)
    db.session.commit()
    login(client, caseworker)
    url = f"/people/{person.id}/followups/return"
    response = post_form(client, url, family_return(day="2026-02-15", version=str(ret.version)))
    assert response.status_code == 302
    assert [v.due_date for v in visits_of(person)] == [D(2026, 2, 28), D(2026, 5, 15), D(2026, 8, 15),
                                                       D(2027, 2, 15)]
    # Not after a visit already made.
    db.session.refresh(ret)
    response = post_form(client, url, family_return(day="2026-03-02", version=str(ret.version)))
    assert response.status_code == 200 and 'id="return_date-error"' in response.text
    db.session.refresh(ret)
    assert ret.return_date == D(2026, 2, 15)


def test_a_stale_return_edit_is_a_conflict_with_input_kept(client, caseworker, person):
    ret = make_return(person, caseworker)
    login(client, caseworker)
    response = post_form(client, f"/people/{person.id}/followups/return",
                         family_return(version="0", notes="我的输入"))
    assert response.status_code == 409 and "我的输入" in response.text
    db.session.refresh(ret)
    assert ret.notes is None


# -- recording visits --------------------------------------------------------------------------------
def test_recording_a_visit(client, caseworker, person):
    make_return(person, caseworker)
    visit = visits_of(person)[0]
    login(client, caseworker)
    response = post_form(client, f"/followups/visits/{visit.id}", {
        "version": str(visit.version), "done_on": "2026-02-27", "method": "home_visit",
        "living_conditions": "与父母同住，情况良好", "difficulties": "缺少学费", "onward_referrals": "教育局：助学"})
    assert response.status_code == 302
    db.session.refresh(visit)
    assert (visit.done_on, visit.method, visit.difficulties) == (D(2026, 2, 27), "home_visit", "缺少学费")
    assert "学费" not in visit.difficulties_enc and "父母" not in visit.living_conditions_enc
    revision = db.session.scalar(select(PersonRevision).where(PersonRevision.entry_id == visit.id))
    assert "缺少学费" in revision.changes
    page = client.get(f"/people/{person.id}/followups")
    assert "与父母同住" in page.text and "status-done" in page.text
    assert f"/people/{person.id}/referrals" in page.text


@pytest.mark.parametrize("data, field_error", [
    ({"done_on": "", "method": "phone", "living_conditions": "好"}, "done_on"),
    ({"done_on": (TODAY + dt.timedelta(days=1)).isoformat(), "method": "phone", "living_conditions": "好"}, "done_on"),
    ({"done_on": "2026-01-30", "method": "phone", "living_conditions": "好"}, "done_on"),   # before the return
    ({"done_on": "2026-02-27", "method": "", "living_conditions": "好"}, "method"),
    ({"done_on": "2026-02-27", "method": "fax", "living_conditions": "好"}, "method"),
    ({"done_on": "2026-02-27", "method": "phone", "living_conditions": " "}, "living_conditions"),
])
def test_visit_form_errors_keep_input_and_save_nothing(client, caseworker, person, data, field_error):
    make_return(person, caseworker)
    visit = visits_of(person)[0]
    login(client, caseworker)
    response = post_form(client, f"/followups/visits/{visit.id}",
                         {**data, "version": str(visit.version), "difficulties": "保留的困难"})
    assert response.status_code == 200
    assert f'id="{field_error}-error"' in response.text and "保留的困难" in response.text
    db.session.refresh(visit)
    assert visit.done_on is None and visit.difficulties is None


def test_a_visit_on_the_return_date_is_accepted(caseworker, person):
    make_return(person, caseworker)
    visit = visits_of(person)[0]
    service.record_visit(visit, person, {"done_on": D(2026, 1, 31), "method": "phone", "living_conditions": "好"},
                         caseworker, visit.version)
    with pytest.raises(service.FollowupError):
        service.record_visit(visit, person, {"done_on": D(2026, 1, 30)}, caseworker, visit.version)


def test_a_stale_visit_edit_is_a_conflict_with_input_kept(client, caseworker, person):
    make_return(person, caseworker)
    visit = visits_of(person)[0]
    old_version = visit.version
    service.record_visit(visit, person, {"done_on": D(2026, 2, 20), "method": "phone", "living_conditions": "甲"},
                         caseworker, old_version)
    db.session.commit()
    login(client, caseworker)
    response = post_form(client, f"/followups/visits/{visit.id}", {
        "version": str(old_version), "done_on": "2026-02-21", "method": "home_visit", "living_conditions": "乙的记录"})
    assert response.status_code == 409 and "乙的记录" in response.text
    db.session.refresh(visit)
    assert visit.living_conditions == "甲"


# -- due and overdue ---------------------------------------------------------------------------------
def test_due_and_overdue_on_the_edges(caseworker, person):
    make_return(person, caseworker, D(2026, 1, 31))           # first visit due 2026-02-28
    assert service.due_and_overdue(caseworker, D(2026, 2, 27)) == []
    (row,) = service.due_and_overdue(caseworker, D(2026, 2, 28))
    assert (row.visit.months, row.person.id, row.state, row.days_overdue) == (1, person.id, "due", 0)
    (row,) = service.due_and_overdue(caseworker, D(2026, 3, 1))
    assert (row.state, row.days_overdue) == ("overdue", 1)
    rows = service.due_and_overdue(caseworker, D(2026, 4, 30))
    assert [(r.visit.months, r.state) for r in rows] == [(1, "overdue"), (3, "due")]
    first = rows[0].visit
    service.record_visit(first, person, {"done_on": D(2026, 3, 5), "method": "phone", "living_conditions": "好"},
                         caseworker, first.version)
    db.session.commit()
    assert [r.visit.months for r in service.due_and_overdue(caseworker, D(2026, 4, 30))] == [3]


def test_due_and_overdue_is_scoped_and_one_query(orgs, make_user, make_person, caseworker, person):
    other = make_person(orgs["other_shelter"], name="他处对象")
    sibling = make_person(orgs["shelter_b"], name="乙站对象")
    for someone in (person, other, sibling):
        make_return(someone, caseworker, D(2026, 1, 31))
    day = D(2026, 3, 1)
    assert {r.person.id for r in service.due_and_overdue(caseworker, day)} == {person.id}
    manager = make_user("manager", orgs["bureau"])
    assert {r.person.id for r in service.due_and_overdue(manager, day)} == {person.id, sibling.id}
    assert service.due_and_overdue(make_user("clinician", orgs["hospital"]), day) == []
    assert service.due_and_overdue(make_user("auditor", orgs["supervision"]), day) == []

    _ = manager.organisation.path  # loaded with the session's user in a request
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        rows = service.due_and_overdue(manager, day)
        _ = [(r.person.case_number, r.person.organisation.name, r.visit.due_date) for r in rows]
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(statements) == 1, statements


def test_section_page_shows_the_states(client, caseworker, person):
    make_return(person, caseworker, TODAY - dt.timedelta(days=40))
    login(client, caseworker)
    page = client.get(f"/people/{person.id}/followups")
    assert page.status_code == 200
    assert "status-overdue" in page.text and "status-upcoming" in page.text
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "view",
                                                      AuditEvent.section == "followups",
                                                      AuditEvent.object_id == person.id))
    file_page = client.get(f"/people/{person.id}")
    assert f"/people/{person.id}/followups" in file_page.text


# -- permissions -------------------------------------------------------------------------------------
def test_caseworker_of_another_shelter_is_refused_and_audited(client, orgs, make_user, caseworker, person):
    make_return(person, caseworker)
    visit = visits_of(person)[0]
    login(client, make_user("caseworker", orgs["shelter_b"]))
    assert client.get(f"/people/{person.id}/followups").status_code == 404
    assert client.get(f"/people/{person.id}/followups/return").status_code == 404
    assert client.get(f"/followups/visits/{visit.id}").status_code == 404
    assert len(denials(person.id)) == 3


def test_manager_reads_but_cannot_write(client, orgs, make_user, caseworker, person):
    make_return(person, caseworker)
    visit = visits_of(person)[0]
    login(client, make_user("manager", orgs["bureau"]))
    page = client.get(f"/people/{person.id}/followups")
    assert page.status_code == 200 and f"/followups/visits/{visit.id}" not in page.text
    assert client.get(f"/followups/visits/{visit.id}").status_code == 403
    assert len(denials(person.id)) == 1
    response = post_form(client, f"/people/{person.id}/followups/return", family_return(day="2026-02-01"),
                         page_url=f"/people/{person.id}/followups")
    assert response.status_code == 403
    assert len(denials(person.id)) == 2
    assert db.session.scalar(select(PersonReturn.return_date)) == D(2026, 1, 31)


def test_partners_never_reach_the_section(client, orgs, make_user, caseworker, person):
    clinician = make_user("clinician", orgs["hospital"])
    login(client, clinician)
    # Clinicians never use the section: refused before the person is looked up (the same 403 whether
    # she exists, is referred to them or not, so it tells nothing), audited with the id asked for.
    assert client.get(f"/people/{person.id}/followups").status_code == 403
    assert len(denials(person.id)) == 1
    referral = referrals.refer(person, orgs["hospital"], "请诊治", caseworker)
    referrals.accept(referral, clinician)
    db.session.commit()
    assert client.get(f"/people/{person.id}/followups").status_code == 403
    assert len(denials(person.id)) == 2
    assert "/followups" not in client.get(f"/people/{person.id}").text
