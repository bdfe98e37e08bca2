"""The placement section: stays, transfers, discharges, the buying-household refusal, permissions."""
import datetime as dt

import pytest
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.people.models import PersonRevision
from victimcare.placements import service
from victimcare.placements.models import Placement
from victimcare.referrals import service as referrals

from .conftest import csrf_from, post_form

TODAY = dt.date.today()


def days_ago(n):
    return TODAY - dt.timedelta(days=n)


def admission(org=None, **values):
    data = {"placement_type": "temporary_assistance", "organisation_id": str(org.id) if org else "",
            "institution_name": "", "household_relation": "none", "admitted_on": days_ago(30).isoformat(),
            "reason": "救助站临时安置", "discharged_on": "", "discharge_reason": ""}
    data.update(values)
    return data


def stays(person):
    return db.session.scalars(select(Placement).where(Placement.person_id == person.id)
                              .order_by(Placement.admitted_on)).all()


def denials(section="placement"):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied",
                                                       AuditEvent.section == section)).all()


@pytest.fixture(autouse=True)
def english(client):
    client.get("/language/en")  # messages are asserted in English


@pytest.fixture
def person(orgs, make_person):
    return make_person(orgs["shelter_a"], rescue_date=days_ago(400))


@pytest.fixture
def caseworker(orgs, logged_in):
    return logged_in("caseworker", orgs["shelter_a"])


def admit(person, user, admitted_on, discharged_on=None, kind="temporary_assistance", org=None, **extra):
    data = {"placement_type": kind, "organisation_id": org.id if org else None, "institution_name": "某福利院",
            "household_relation": "none", "admitted_on": admitted_on, "discharged_on": discharged_on,
            "reason": "安置", **extra}
    stay = service.admit(person, data, user)
    db.session.commit()
    return stay


# -- admission, list, edit, discharge, transfer ------------------------------------------------------
def test_admission_is_saved_encrypted_listed_and_kept_in_history(client, caseworker, person, orgs):
    url = f"/people/{person.id}/placements"
    response = post_form(client, url, admission(orgs["shelter_a"], reason="夜间由公安送来"))
    assert response.status_code == 302
    [stay] = stays(person)
    assert (stay.organisation_id, stay.admitted_on, stay.discharged_on) == (orgs["shelter_a"].id, days_ago(30), None)
    assert stay.reason == "夜间由公安送来" and "夜间" not in (stay.reason_enc or "")
    page = client.get(url)
    assert "甲救助站" in page.text and "夜间由公安送来" in page.text
    assert f"/placements/{stay.id}/edit" in page.text and f"/placements/{stay.id}/discharge" in page.text
    revisions = db.session.scalars(select(PersonRevision).where(PersonRevision.section == "placement")).all()
    assert len(revisions) == 1 and revisions[0].entry_id == stay.id
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "view", AuditEvent.section == "placement"))


def test_free_text_institution_for_family_foster_care(client, caseworker, person):
    response = post_form(client, f"/people/{person.id}/placements",
                         admission(None, placement_type="family_foster", institution_name="王家（寄养家庭）",
                                   household_relation="foster_family"))
    assert response.status_code == 302
    [stay] = stays(person)
    assert stay.organisation_id is None and stay.institution == "王家（寄养家庭）"
    assert "王家" not in stay.institution_name_enc


@pytest.mark.parametrize("values, field, message", [
    ({"admitted_on": ""}, "admitted_on", "This field is required."),
    ({"admitted_on": (TODAY + dt.timedelta(days=1)).isoformat()}, "admitted_on", "This date is in the future."),
    ({"discharged_on": (TODAY + dt.timedelta(days=1)).isoformat()}, "discharged_on", "This date is in the future."),
    ({"discharged_on": days_ago(31).isoformat()}, "discharged_on", "The discharge date is before the admission date."),
    ({"discharge_reason": "离站"}, "discharged_on", "A discharge reason needs a discharge date."),
    ({"organisation_id": "", "institution_name": ""}, "organisation_id", "Choose an institution or give its name."),
    ({"placement_type": "family_foster", "institution_name": "王家"}, "household_relation",
     "Say whose household receives the person."),
    ({"admitted_on": days_ago(500).isoformat()}, "admitted_on", "The admission date is before the rescue date."),
    ({"placement_type": "prison"}, "placement_type", "Not a valid choice."),
])
def test_form_errors_keep_the_input_and_save_nothing(client, caseworker, person, orgs, values, field, message):
    data = admission(orgs["shelter_a"], reason="保留这段输入", **values)
    response = post_form(client, f"/people/{person.id}/placements", data)
    assert response.status_code == 200
    assert f'id="{field}-error"' in response.text and message in response.text, response.text[response.text.find("<form"):]
    assert "保留这段输入" in response.text
    assert stays(person) == []
    assert db.session.scalar(select(PersonRevision)) is None


def test_another_organisations_shelter_cannot_be_chosen(client, caseworker, person, orgs):
    response = post_form(client, f"/people/{person.id}/placements", admission(orgs["other_shelter"]))
    assert response.status_code == 200 and "Not a valid choice" in response.text
    assert stays(person) == []


def test_overlapping_stays_are_refused(client, caseworker, person, orgs):
    admit(person, caseworker, days_ago(100), days_ago(50))
    response = post_form(client, f"/people/{person.id}/placements", admission(orgs["shelter_a"],
                                                                             admitted_on=days_ago(60).isoformat()))
    assert response.status_code == 200 and "overlaps the stay from" in response.text
    assert len(stays(person)) == 1
    # on the discharge day is fine (a transfer)
    response = post_form(client, f"/people/{person.id}/placements",
                         admission(orgs["shelter_a"], admitted_on=days_ago(50).isoformat()))
    assert response.status_code == 302 and len(stays(person)) == 2


def test_a_second_open_stay_is_refused_and_a_transfer_discharges_the_current_one(client, caseworker, person, orgs):
    first = admit(person, caseworker, days_ago(100), org=orgs["shelter_a"])
    url = f"/people/{person.id}/placements"
    welfare_home = admission(None, placement_type="child_welfare", institution_name="市儿童福利院",
                             admitted_on=days_ago(10).isoformat())
    response = post_form(client, url, welfare_home)
    assert response.status_code == 200 and "overlaps the current stay" in response.text
    assert len(stays(person)) == 1
    response = post_form(client, url, {**welfare_home, "transfer": "y"})
    assert response.status_code == 302
    db.session.expire_all()
    old, new = stays(person)
    assert old.id == first.id and old.discharged_on == days_ago(10) and old.discharge_reason == "转移安置"  # the office language, whatever the user reads
    assert new.institution == "市儿童福利院" and new.is_open
    history = db.session.scalars(select(PersonRevision).where(PersonRevision.section == "placement")).all()
    assert {r.entry_id for r in history} == {old.id, new.id} and len(history) == 3


def test_a_transfer_without_a_current_stay_is_refused(client, caseworker, person, orgs):
    response = post_form(client, f"/people/{person.id}/placements", admission(orgs["shelter_a"], transfer="y"))
    assert response.status_code == 200 and "There is no current stay to transfer from." in response.text
    assert stays(person) == []


def test_a_transfer_before_the_current_stay_began_is_refused(client, caseworker, person, orgs):
    admit(person, caseworker, days_ago(10), org=orgs["shelter_a"])
    response = post_form(client, f"/people/{person.id}/placements",
                         admission(None, institution_name="某站", admitted_on=days_ago(20).isoformat(), transfer="y"))
    assert response.status_code == 200 and "cannot be dated before the current stay" in response.text
    assert len(stays(person)) == 1 and stays(person)[0].is_open


def test_discharge(client, caseworker, person):
    stay = admit(person, caseworker, days_ago(100))
    url = f"/placements/{stay.id}/discharge"
    response = post_form(client, url, {"version": "1", "discharged_on": days_ago(101).isoformat(),
                                       "discharge_reason": "返回家庭"})
    assert "The discharge date is before the admission date." in response.text and "返回家庭" in response.text
    response = post_form(client, url, {"version": "1", "discharged_on": days_ago(5).isoformat(), "discharge_reason": ""})
    assert "This field is required." in response.text
    response = post_form(client, url, {"version": "1", "discharged_on": days_ago(5).isoformat(),
                                       "discharge_reason": "返回家庭"})
    assert response.status_code == 302
    db.session.expire_all()
    assert stays(person)[0].discharged_on == days_ago(5) and stays(person)[0].discharge_reason == "返回家庭"


def test_edit_keeps_history_and_a_stale_form_gets_the_conflict_page(client, caseworker, person, orgs):
    stay = admit(person, caseworker, days_ago(100), org=orgs["shelter_a"])
    url = f"/placements/{stay.id}/edit"
    page = client.get(url)
    assert 'value="1"' in page.text
    token = csrf_from(page.text)
    ok = client.post(url, data={"csrf_token": token, "version": "1",
                                **admission(orgs["shelter_a"], admitted_on=days_ago(90).isoformat())})
    assert ok.status_code == 302
    stale = client.post(url, data={"csrf_token": token, "version": "1",
                                   **admission(orgs["shelter_a"], admitted_on=days_ago(80).isoformat(),
                                               reason="我的修改")})
    assert stale.status_code == 409 and "Someone else saved this" in stale.text and "我的修改" in stale.text
    db.session.expire_all()
    assert stays(person)[0].admitted_on == days_ago(90)
    revisions = db.session.scalars(select(PersonRevision).where(PersonRevision.entry_id == stay.id)).all()
    assert len(revisions) == 2


def test_edit_cannot_create_an_overlap(client, caseworker, person):
    admit(person, caseworker, days_ago(100), days_ago(50))
    second = admit(person, caseworker, days_ago(40))
    response = post_form(client, f"/placements/{second.id}/edit",
                         {"version": "1", **admission(None, institution_name="某站", admitted_on=days_ago(60).isoformat())})
    assert response.status_code == 200 and "overlaps" in response.text
    db.session.expire_all()
    assert stays(person)[1].admitted_on == days_ago(40)


# -- the buying household ----------------------------------------------------------------------------
def buying(**values):
    return admission(None, placement_type="return_to_family", institution_name="李家", household_relation="buying_household",
                     **values)


def test_a_child_without_guardians_is_not_placed_with_the_buying_household(client, caseworker, make_person, orgs):
    child = make_person(orgs["shelter_a"], date_of_birth=TODAY.replace(year=TODAY.year - 10) - dt.timedelta(days=1),
                        tracing_result="guardian_not_found")
    response = post_form(client, f"/people/{child.id}/placements", buying())
    assert response.status_code == 200
    assert 'id="household_relation-error"' in response.text
    assert "不得由收买家庭继续抚养" in response.text and "Jiangsu 2021-2030" in response.text
    assert stays(child) == []


def test_the_rule_looks_at_the_age_on_the_admission_date(client, caseworker, make_person, orgs):
    # 18 today, but 17 on the admission date a month ago: still a child for that placement
    person = make_person(orgs["shelter_a"], date_of_birth=TODAY.replace(year=TODAY.year - 18) - dt.timedelta(days=1),
                         tracing_result="searching")
    response = post_form(client, f"/people/{person.id}/placements", buying(admitted_on=days_ago(30).isoformat()))
    assert "不得由收买家庭继续抚养" in response.text and stays(person) == []
    response = post_form(client, f"/people/{person.id}/placements", buying(admitted_on=TODAY.isoformat()))
    assert response.status_code == 302 and len(stays(person)) == 1


def test_the_buying_household_rule_does_not_apply_once_guardians_are_found(client, caseworker, make_person, orgs):
    child = make_person(orgs["shelter_a"], tracing_result="guardian_found")
    assert post_form(client, f"/people/{child.id}/placements", buying()).status_code == 302


def test_editing_a_stay_into_the_buying_household_is_refused(client, caseworker, person):
    stay = admit(person, caseworker, days_ago(30), kind="family_foster", household_relation="foster_family")
    response = post_form(client, f"/placements/{stay.id}/edit", {"version": "1", **buying()})
    assert "不得由收买家庭继续抚养" in response.text
    db.session.expire_all()
    assert stays(person)[0].household_relation == "foster_family"


# -- summary card ----------------------------------------------------------------------------------
def test_the_file_page_shows_the_placement_card(client, caseworker, person, orgs):
    admit(person, caseworker, days_ago(120), org=orgs["shelter_a"])
    page = client.get(f"/people/{person.id}")
    assert f"/people/{person.id}/placements" in page.text and "甲救助站" in page.text
    assert "Due" in page.text or "Overdue" in page.text


# -- permissions ------------------------------------------------------------------------------------
def test_a_caseworker_of_another_shelter_gets_404_and_it_is_audited(client, orgs, make_person, make_user, logged_in):
    owner = make_user("caseworker", orgs["shelter_a"])
    person = make_person(orgs["shelter_a"])
    stay = admit(person, owner, days_ago(30))
    logged_in("caseworker", orgs["other_shelter"])
    assert client.get(f"/people/{person.id}/placements").status_code == 404
    assert client.get(f"/placements/{stay.id}/edit").status_code == 404
    page = client.get("/")
    assert client.post(f"/placements/{stay.id}/discharge",
                       data={"csrf_token": csrf_from(page.text), "version": "1",
                             "discharged_on": TODAY.isoformat(), "discharge_reason": "x"}).status_code == 404
    assert len(denials()) == 3 and all('"status":404' in d.details for d in denials())
    db.session.expire_all()
    assert stays(person)[0].is_open


def test_a_sister_shelter_caseworker_also_gets_404(client, orgs, make_person, logged_in):
    person = make_person(orgs["shelter_a"])
    logged_in("caseworker", orgs["shelter_b"])
    assert client.get(f"/people/{person.id}/placements").status_code == 404


def test_a_bureau_caseworker_reaches_the_shelters_people(client, orgs, make_person, logged_in):
    person = make_person(orgs["shelter_a"])
    logged_in("caseworker", orgs["bureau"])
    assert client.get(f"/people/{person.id}/placements").status_code == 200


def test_a_manager_reads_but_cannot_write(client, orgs, make_person, make_user, logged_in):
    person = make_person(orgs["shelter_a"])
    stay = admit(person, make_user("caseworker", orgs["shelter_a"]), days_ago(30))
    logged_in("manager", orgs["bureau"])
    page = client.get(f"/people/{person.id}/placements")
    assert page.status_code == 200 and "/edit" not in page.text and "Record the admission" not in page.text
    assert client.post(f"/people/{person.id}/placements",
                       data={"csrf_token": csrf_from(page.text), **admission(None, institution_name="x")}).status_code == 403
    assert client.get(f"/placements/{stay.id}/edit").status_code == 403
    assert len(denials()) == 2 and all('"status":403' in d.details for d in denials())
    assert len(stays(person)) == 1


def test_police_with_an_active_referral_cannot_read_or_edit_placements(client, orgs, make_person, make_user, logged_in):
    person = make_person(orgs["shelter_a"])
    worker = make_user("caseworker", orgs["shelter_a"])
    stay = admit(person, worker, days_ago(30))
    officer = logged_in("police", orgs["police"])
    referral = referrals.refer(person, orgs["police"], "身份核查", worker)
    referrals.accept(referral, officer)
    db.session.commit()
    assert client.get(f"/people/{person.id}/placements").status_code == 403
    assert client.get(f"/placements/{stay.id}/edit").status_code == 403
    assert client.get(f"/placements/{stay.id}/discharge").status_code == 403
    assert len(denials()) == 3


def test_police_without_a_referral_get_404(client, orgs, make_person, make_user, logged_in):
    person = make_person(orgs["shelter_a"])
    stay = admit(person, make_user("caseworker", orgs["shelter_a"]), days_ago(30))
    logged_in("police", orgs["police"])
    # The police never use the placement section: 403 for any id, before the person is looked up.
    assert client.get(f"/people/{person.id}/placements").status_code == 403
    assert client.get(f"/placements/{stay.id}/edit").status_code == 403
    assert len(denials()) == 2


# Clinicians never use the placement section: 403 whatever their referral (refused before the lookup).
@pytest.mark.parametrize("referral_state, status", [(None, 403), ("active", 403), ("closed", 403), ("declined", 403)])
def test_a_clinician_never_reaches_placements(client, orgs, make_person, make_user, logged_in, referral_state, status):
    person = make_person(orgs["shelter_a"])
    worker = make_user("caseworker", orgs["shelter_a"])
    clinician = logged_in("clinician", orgs["hospital"])
    if referral_state:
        referral = referrals.refer(person, orgs["hospital"], "治疗", worker)
        if referral_state == "active":
            referrals.accept(referral, clinician)
        elif referral_state == "closed":
            referrals.close(referral, "结束", worker)
        else:
            referrals.decline(referral, "无床位", clinician)
        db.session.commit()
    assert client.get(f"/people/{person.id}/placements").status_code == status
    assert len(denials()) == 1


def test_a_closed_file_takes_no_new_stay(client, caseworker, person, orgs):
    person.status = "closed"
    db.session.commit()
    page = client.get(f"/people/{person.id}/placements")
    assert "Record the admission" not in page.text
    response = client.post(f"/people/{person.id}/placements",
                           data={"csrf_token": csrf_from(page.text), **admission(orgs["shelter_a"])})
    assert response.status_code == 409 and stays(person) == []


def test_unknown_ids_are_404(client, caseworker):
    assert client.get("/people/nope/placements").status_code == 404
    assert client.get("/placements/nope/edit").status_code == 404
    assert client.get("/placements/" + "x" * 40 + "/discharge").status_code == 404
