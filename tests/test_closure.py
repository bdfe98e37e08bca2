"""Closing and reopening a file: managers only, with a reason, kept in the history; a closed
file stays readable and refuses new follow-up records."""
import datetime as dt

import pytest
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.followups import service
from victimcare.followups.models import CaseStatusChange, FollowupVisit, PersonReturn
from victimcare.people.models import PersonRevision
from victimcare.referrals import service as referrals

from .conftest import login, post_form

D = dt.date


@pytest.fixture
def caseworker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def manager(orgs, make_user):
    return make_user("manager", orgs["bureau"])


@pytest.fixture
def person(orgs, make_person, caseworker):
    return make_person(orgs["shelter_a"], by=caseworker, name="结案对象", nationality="CHN")


def with_return(person, user, day=D(2026, 1, 31)):
    service.record_return(person, {"kind": "family", "return_date": day, "wish_confirmed": True,
                                   "wish_expressed_by": "person"}, user)
    db.session.commit()
    return db.session.scalars(select(FollowupVisit).where(FollowupVisit.person_id == person.id)
                              .order_by(FollowupVisit.due_date)).all()


def close(person, user, reason="回归家庭一年，情况稳定"):
    service.close_file(person, reason, user)
    db.session.commit()


def denials(object_id):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied",
                                                       AuditEvent.object_id == object_id)).all()


def test_manager_closes_with_a_reason(client, manager, person):
    login(client, manager)
    response = post_form(client, f"/people/{person.id}/close", {"expected_status": "open",
                                                                "reason": "回归家庭一年，情况稳定"})
    assert response.status_code == 302
    db.session.refresh(person)
    assert person.status == "closed"
    change = db.session.scalar(select(CaseStatusChange))
    assert (change.action, change.reason) == ("close", "回归家庭一年，情况稳定")
    assert "稳定" not in change.reason_enc
    revision = db.session.scalar(select(PersonRevision).where(PersonRevision.section == "case"))
    assert revision.entry_id == change.id and "closed" in revision.changes and "稳定" in revision.changes
    assert "稳定" not in revision.changes_enc
    audited = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "update", AuditEvent.section == "case"))
    assert audited.object_id == person.id and "稳定" not in audited.details
    page = client.get(f"/people/{person.id}/case")
    assert page.status_code == 200 and "回归家庭一年" in page.text and "status-closed" in page.text
    assert f"/people/{person.id}/reopen" in page.text


@pytest.mark.parametrize("reason", ["", "   "])
def test_closing_needs_a_reason(client, manager, person, reason):
    login(client, manager)
    response = post_form(client, f"/people/{person.id}/close", {"expected_status": "open", "reason": reason})
    assert response.status_code == 200 and 'id="reason-error"' in response.text
    db.session.refresh(person)
    assert person.status == "open"
    assert db.session.scalar(select(CaseStatusChange.id)) is None
    with pytest.raises(service.FollowupError):
        service.close_file(person, " ", manager)


def test_a_caseworker_cannot_close_and_the_attempt_is_audited(client, caseworker, person):
    login(client, caseworker)
    assert client.get(f"/people/{person.id}/case").status_code == 200   # reads the status
    assert client.get(f"/people/{person.id}/close").status_code == 403
    response = post_form(client, f"/people/{person.id}/close", {"expected_status": "open", "reason": "想结案"},
                         page_url=f"/people/{person.id}/case")
    assert response.status_code == 403
    assert [d.section for d in denials(person.id)] == ["case", "case"]
    db.session.refresh(person)
    assert person.status == "open"
    assert f"/people/{person.id}/close" not in client.get(f"/people/{person.id}/case").text


def test_a_manager_of_another_bureau_gets_404_audited(client, orgs, make_user, person):
    login(client, make_user("manager", orgs["other_bureau"]))
    assert client.get(f"/people/{person.id}/case").status_code == 404
    assert client.get(f"/people/{person.id}/close").status_code == 404
    assert len(denials(person.id)) == 2


def test_partners_never_reach_the_case_section(client, orgs, make_user, caseworker, person):
    clinician = make_user("clinician", orgs["hospital"])
    login(client, clinician)
    # Clinicians never use the section: 403 whether the person is referred to them or not.
    assert client.get(f"/people/{person.id}/case").status_code == 403
    assert client.get(f"/people/{person.id}/reopen").status_code == 403
    referral = referrals.refer(person, orgs["hospital"], "请诊治", caseworker)
    referrals.accept(referral, clinician)
    db.session.commit()
    assert client.get(f"/people/{person.id}/close").status_code == 403
    assert len(denials(person.id)) == 3


def test_a_closed_file_stays_readable(client, manager, caseworker, person):
    with_return(person, caseworker)
    close(person, manager)
    login(client, caseworker)
    for url in (f"/people/{person.id}", f"/people/{person.id}/followups", f"/people/{person.id}/case",
                f"/people/{person.id}/history", f"/people/{person.id}/referrals"):
        assert client.get(url).status_code == 200, url
    history = client.get(f"/people/{person.id}/history")
    assert "回归家庭一年，情况稳定" in history.text
    assert db.session.scalar(select(PersonReturn.id)) is not None   # nothing removed


def test_a_closed_file_refuses_follow_up_records(client, manager, caseworker, person):
    visits = with_return(person, caseworker)
    close(person, manager)
    login(client, caseworker)
    page = client.get(f"/people/{person.id}/followups")
    assert f"/followups/visits/{visits[0].id}" not in page.text
    assert client.get(f"/people/{person.id}/followups/return").status_code == 409
    response = post_form(client, f"/followups/visits/{visits[0].id}",
                         {"version": str(visits[0].version), "done_on": "2026-02-27", "method": "phone",
                          "living_conditions": "好"}, page_url=f"/people/{person.id}/followups")
    assert response.status_code == 409
    db.session.refresh(visits[0])
    assert visits[0].done_on is None
    with pytest.raises(service.FileClosed):
        service.record_visit(visits[0], person, {"done_on": D(2026, 2, 27)}, caseworker, visits[0].version)
    with pytest.raises(service.FileClosed):
        service.update_return(visits[0].person_return, person, {"kind": "family"}, caseworker, 1)


def test_a_closed_file_leaves_the_due_list_and_returns_when_reopened(manager, caseworker, person):
    with_return(person, caseworker)
    day = D(2026, 3, 1)
    assert len(service.due_and_overdue(caseworker, day)) == 1
    close(person, manager)
    assert service.due_and_overdue(caseworker, day) == []
    service.reopen_file(person, "又出现困难", manager)
    db.session.commit()
    assert len(service.due_and_overdue(caseworker, day)) == 1


def test_reopening_needs_a_manager_and_a_reason_and_the_file_works_again(client, manager, caseworker, person):
    visits = with_return(person, caseworker)
    close(person, manager)
    worker = client.application.test_client()
    login(worker, caseworker)
    assert worker.get(f"/people/{person.id}/reopen").status_code == 403
    login(client, manager)
    url = f"/people/{person.id}/reopen"
    response = post_form(client, url, {"expected_status": "closed", "reason": ""})
    assert response.status_code == 200 and 'id="reason-error"' in response.text
    response = post_form(client, url, {"expected_status": "closed", "reason": "家属反映新的困难"})
    assert response.status_code == 302
    db.session.refresh(person)
    assert person.status == "open"
    changes = db.session.scalars(select(PersonRevision).where(PersonRevision.section == "case")
                                 .order_by(PersonRevision.changed_at)).all()
    assert len(changes) == 2 and "家属反映新的困难" in changes[1].changes
    assert [c.action for c in service.status_history(person)] == ["reopen", "close"]
    response = post_form(worker, f"/followups/visits/{visits[0].id}",
                         {"version": str(visits[0].version), "done_on": "2026-02-27", "method": "phone",
                          "living_conditions": "好"})
    assert response.status_code == 302


def test_closing_twice_is_refused(client, manager, person):
    close(person, manager)
    with pytest.raises(service.FollowupError, match="already_closed"):
        service.close_file(person, "again", manager)
    login(client, manager)
    assert client.get(f"/people/{person.id}/close").status_code == 302   # back to the case page
    response = post_form(client, f"/people/{person.id}/close", {"expected_status": "open", "reason": "再次"},
                         page_url=f"/people/{person.id}/case")
    assert response.status_code == 409 and "再次" in response.text
    assert len(service.status_history(person)) == 1
    service.reopen_file(person, "重开", manager)
    with pytest.raises(service.FollowupError, match="not_closed"):
        service.reopen_file(person, "again", manager)


def test_a_file_reopened_meanwhile_is_a_conflict_with_input_kept(client, manager, make_user, orgs, person):
    close(person, manager)
    login(client, manager)
    url = f"/people/{person.id}/reopen"
    form_page = client.get(url)
    assert form_page.status_code == 200 and 'name="expected_status"' in form_page.text
    service.reopen_file(person, "另一位负责人重开", make_user("manager", orgs["bureau"]))
    db.session.commit()
    response = post_form(client, url, {"expected_status": "closed", "reason": "我的原因"},
                         page_url=f"/people/{person.id}/case")
    assert response.status_code == 409 and "我的原因" in response.text
    assert [c.reason for c in service.status_history(person)] == ["另一位负责人重开", "回归家庭一年，情况稳定"]
