"""The home page shows each user what needs doing today, within their own reach only."""
import datetime as dt

from victimcare.extensions import db
from victimcare.referrals import service as referrals

from .conftest import login
from .test_followups import make_return
from .test_reports import report_data
from .test_residence_pages import place

TODAY = dt.date.today()


def english(client):
    client.get("/language/en")


def test_caseworker_sees_residence_followups_and_waiting_referrals(client, orgs, make_user, make_person):
    caseworker = make_user("caseworker", orgs["shelter_a"])
    due = make_person(orgs["shelter_a"], by=caseworker, name="待落户")
    place(due, caseworker, TODAY - dt.timedelta(days=120))
    returned = make_person(orgs["shelter_a"], by=caseworker, name="已返乡", identity_status="identified",
                           identified_method="documents", identified_on=TODAY - dt.timedelta(days=200))
    make_return(returned, caseworker, day=TODAY - dt.timedelta(days=40))  # 1-month visit overdue
    waiting = make_person(orgs["shelter_a"], by=caseworker, name="等待转介")
    referrals.refer(waiting, orgs["hospital"], "请诊治", caseworker)
    db.session.commit()
    login(client, caseworker)
    english(client)
    page = client.get("/").text
    assert "residence applications due" in page
    assert '<span class="n">1</span>residence applications due' in page
    assert returned.case_number in page and "days overdue" in page
    assert waiting.case_number in page and orgs["hospital"].name in page


def test_nothing_from_another_shelter_appears(client, orgs, make_user, make_person):
    owner = make_user("caseworker", orgs["shelter_b"])
    theirs = make_person(orgs["shelter_b"], by=owner, name="乙站的人")
    place(theirs, owner, TODAY - dt.timedelta(days=120))
    referrals.refer(theirs, orgs["hospital"], "请诊治", owner)
    db.session.commit()
    login(client, make_user("caseworker", orgs["shelter_a"]))
    english(client)
    page = client.get("/").text
    assert theirs.case_number not in page and "乙站的人" not in page
    assert '<span class="n">0</span>residence applications due' in page


def test_police_see_new_reports_and_their_referrals(client, orgs, make_user, make_person):
    from victimcare.medical import service as medical
    reporter = make_user("clinician", orgs["hospital"])
    data = {**report_data(orgs["police"]), "observed_on": TODAY, "observed_time": None}
    medical.file_report(data, orgs["police"], reporter)
    caseworker = make_user("caseworker", orgs["shelter_a"])
    person = make_person(orgs["shelter_a"], by=caseworker)
    referrals.refer(person, orgs["police"], "核查身份", caseworker)
    db.session.commit()
    login(client, make_user("police", orgs["police"]))
    english(client)
    page = client.get("/").text
    assert "1 unread report" in page
    assert "Referrals to my organisation" in page and "1 waiting for your answer" in page


def test_auditor_gets_no_case_panels(client, orgs, make_user, make_person):
    make_person(orgs["shelter_a"], name="不应出现")
    login(client, make_user("auditor", orgs["supervision"]))
    page = client.get("/").text
    assert "不应出现" not in page and 'class="tile' not in page
    assert "/audit/" in page
