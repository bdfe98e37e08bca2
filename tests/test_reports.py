"""Mandatory reports of suspected trafficking (强制报告, Jiangsu 2021-2030 二(一)5): who may file (by kind of
organisation), who may read (the addressed station and the reporting organisation), nobody else."""
import datetime as dt

import pytest
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare import access
from victimcare.medical import service
from victimcare.medical.models import ReportUpdate, TraffickingReport
from victimcare.referrals import service as referrals

from .conftest import login as _login
from .conftest import post_form

TODAY = dt.date.today()


def login(client, user):
    response = _login(client, user)
    client.get("/language/en")
    return response


@pytest.fixture
def station_b(make_org, orgs):
    return make_org("乙派出所", "police", "320104", orgs["bureau"])


@pytest.fixture
def school(make_org, orgs):
    return make_org("区教育局", "school_office", "320102", orgs["bureau"])


def report_data(station, **overrides):
    data = {"police_organisation_id": str(station.id), "observed_on": TODAY.isoformat(), "observed_time": "14:30",
            "place": "火车站候车室", "victim_description": "约十岁女孩，不会说普通话",
            "circumstances": "陪同成人无法说出孩子姓名", "case_number": "", "reporter_contact": "13800000000"}
    data.update(overrides)
    return data


def file(client, station, **overrides):
    return post_form(client, "/reports/new", report_data(station, **overrides))


def denials():
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "denied",
                                                       AuditEvent.section == "reports")).all()


@pytest.mark.parametrize("role, org_key", [("clinician", "hospital"), ("caseworker", "shelter_a"),
                                           ("education", "school")])
def test_hospitals_shelters_and_schools_file_and_the_station_sees_it_at_once(
        client, orgs, school, make_user, role, org_key):
    org = school if org_key == "school" else orgs[org_key]
    login(client, make_user(role, org))
    assert client.get("/reports/new").status_code == 200
    response = file(client, orgs["police"])
    assert response.status_code == 302
    report = db.session.scalar(select(TraffickingReport))
    assert (report.reporter_organisation_id, report.police_organisation_id, report.status) == (
        org.id, orgs["police"].id, "submitted")
    assert report.victim_description == "约十岁女孩，不会说普通话"
    for column in ("place_enc", "victim_description_enc", "circumstances_enc", "reporter_contact_enc"):
        assert "火车站" not in getattr(report, column) and "女孩" not in getattr(report, column)
    assert str(report.observed_time) == "14:30:00"
    police = make_user("police", orgs["police"])
    assert service.new_reports_count(police) == 1
    station = client.application.test_client()
    login(station, police)
    listing = station.get("/reports/")
    assert listing.status_code == 200 and "火车站候车室" in listing.text and 'class="unread"' in listing.text
    assert org.name in listing.text
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "create",
                                                      AuditEvent.object_id == report.id)) is not None


@pytest.mark.parametrize("role, kind", [("police", "police"), ("legal_aid", "legal_aid"),
                                        ("employment", "employment_office"), ("manager", "bureau"),
                                        ("auditor", "supervision"), ("admin", "bureau")])
def test_other_organisations_cannot_file(client, make_org, orgs, make_user, role, kind):
    org = {"police": orgs["police"], "bureau": orgs["bureau"], "supervision": orgs["supervision"]}.get(kind) \
        or make_org(f"某{kind}", kind, "320102", orgs["bureau"])
    user = make_user(role, org)
    assert not access.may_file_report(user)
    login(client, user)
    assert client.get("/reports/new").status_code == 403
    response = client.post("/reports/new", data=report_data(orgs["police"]))
    assert response.status_code in (400, 403)
    assert db.session.scalar(select(TraffickingReport.id)) is None
    assert denials()
    with pytest.raises(PermissionError):
        service.file_report(report_data(orgs["police"]), orgs["police"], user)


def test_a_report_can_only_go_to_a_police_station(client, orgs, make_user):
    login(client, make_user("clinician", orgs["hospital"]))
    response = file(client, orgs["shelter_b"])
    assert response.status_code == 200 and "Choose the police station" in response.text
    assert db.session.scalar(select(TraffickingReport.id)) is None


@pytest.mark.parametrize("field, value, message", [
    ("observed_on", (TODAY + dt.timedelta(days=1)).isoformat(), "This date is in the future"),
    ("observed_on", "", "Give the date you observed it"),
    ("observed_time", "25:99", "Not a valid time"),
    ("place", "", "Say where you observed it"),
    ("victim_description", "", "Describe the suspected victim"),
    ("circumstances", "", "Describe what made you suspect trafficking"),
    ("reporter_contact", "", "Give a phone number"),
    ("police_organisation_id", "", "Choose the police station"),
    ("case_number", "NOPE-0001", "No file with this case number"),
])
def test_report_form_errors_keep_input(client, orgs, make_user, field, value, message):
    login(client, make_user("clinician", orgs["hospital"]))
    data = {field: value}
    if field != "circumstances":
        data["circumstances"] = "保留的情况说明"
    response = file(client, orgs["police"], **data)
    assert response.status_code == 200
    assert message in response.text and f'id="{field}-error"' in response.text
    if field != "circumstances":
        assert "保留的情况说明" in response.text
    assert db.session.scalar(select(TraffickingReport.id)) is None


def test_link_to_a_file_only_within_the_reporters_reach(client, orgs, make_user, make_person):
    caseworker = make_user("caseworker", orgs["shelter_a"])
    mine = make_person(orgs["shelter_a"], by=caseworker, name="本站对象")
    theirs = make_person(orgs["other_shelter"], name="他站对象")
    login(client, caseworker)
    response = file(client, orgs["police"], case_number=theirs.case_number)
    assert response.status_code == 200 and "No file with this case number" in response.text
    assert file(client, orgs["police"], case_number=mine.case_number).status_code == 302
    report = db.session.scalar(select(TraffickingReport))
    assert report.person_id == mine.id
    # A clinician reaches a person only through a referral to the hospital.
    clinician = make_user("clinician", orgs["hospital"])
    other = client.application.test_client()
    login(other, clinician)
    assert "No file with this case number" in file(other, orgs["police"], case_number=mine.case_number).text
    referrals.refer(mine, orgs["hospital"], "诊治", caseworker)
    db.session.commit()
    assert file(other, orgs["police"], case_number=mine.case_number).status_code == 302


def _filed(orgs, make_user, by_org="hospital", station="police"):
    reporter = make_user("clinician" if by_org == "hospital" else "caseworker", orgs[by_org])
    report = service.file_report({"observed_on": TODAY, "place": "医院急诊", "victim_description": "少女",
                                  "circumstances": "身上多处伤痕", "reporter_contact": "电话"},
                                 orgs[station] if isinstance(station, str) else station, reporter)
    db.session.commit()
    return report, reporter


def test_nobody_else_sees_a_report(client, orgs, make_user, station_b):
    report, _reporter = _filed(orgs, make_user)
    outsiders = [make_user("police", station_b), make_user("manager", orgs["bureau"]),
                 make_user("auditor", orgs["supervision"]), make_user("admin", orgs["bureau"]),
                 make_user("caseworker", orgs["shelter_a"]), make_user("legal_aid", orgs["bureau"])]
    for user in outsiders:
        assert access.report_role(user, report) is None
        assert service.reports_for(user) == []
        fresh = client.application.test_client()
        login(fresh, user)
        # Another station and another reporting organisation use reports, but not this one (404: its
        # existence stays hidden); the others may not use reports at all (403 for any id).
        uses_reports = access.may_file_report(user) or access.is_police_station(user)
        assert fresh.get(f"/reports/{report.id}").status_code == (404 if uses_reports else 403)
        listing = fresh.get("/reports/")
        assert listing.status_code in (200, 403)
        assert "医院急诊" not in listing.text
    assert service.new_reports_count(outsiders[0]) == 0
    assert len([d for d in denials() if d.object_id == report.id]) == 2
    db.session.refresh(report)
    assert report.read_at is None  # other stations' looks do not count as read


def test_list_is_403_and_audited_for_those_with_no_report_role(client, orgs, make_user):
    for role, org in (("manager", orgs["bureau"]), ("auditor", orgs["supervision"]), ("admin", orgs["bureau"])):
        fresh = client.application.test_client()
        login(fresh, make_user(role, org))
        assert fresh.get("/reports/").status_code == 403
    assert len(denials()) == 3


def test_police_work_list_is_newest_first_and_opening_marks_read(client, orgs, make_user):
    first, _ = _filed(orgs, make_user)
    second, _ = _filed(orgs, make_user, by_org="shelter_a")
    second.created_at = first.created_at + dt.timedelta(minutes=5)
    second.place = "第二个地点"
    db.session.commit()
    police = make_user("police", orgs["police"])
    login(client, police)
    listing = client.get("/reports/").text
    assert listing.index("第二个地点") < listing.index("医院急诊")
    assert listing.count('class="unread"') == 2
    page = client.get(f"/reports/{first.id}")
    assert page.status_code == 200 and "身上多处伤痕" in page.text
    db.session.refresh(first)
    assert first.read_at is not None and first.read_by_id == police.id
    assert client.get("/reports/").text.count('class="unread"') == 1
    assert service.new_reports_count(police) == 1
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "view",
                                                      AuditEvent.object_id == first.id)) is not None


def test_police_acknowledge_then_pass_to_investigation_and_the_reporter_sees_the_status(client, orgs, make_user):
    report, reporter = _filed(orgs, make_user)
    police = make_user("police", orgs["police"])
    login(client, police)
    url = f"/reports/{report.id}"
    page = client.get(url)
    db.session.refresh(report)
    assert f'name="version" type="hidden" value="{report.version}"' in page.text
    version = str(report.version)
    assert post_form(client, url, {"status": "acknowledged", "note": "", "version": version}).status_code == 200
    response = post_form(client, url, {"status": "acknowledged", "note": "已派民警核查", "version": version})
    assert response.status_code == 302
    db.session.refresh(report)
    assert report.status == "acknowledged"
    # a step back is refused
    response = post_form(client, url, {"status": "acknowledged", "note": "再次", "version": str(report.version)})
    assert response.status_code == 200
    assert post_form(client, url, {"status": "investigating", "note": "已立案侦查",
                                   "version": str(report.version)}).status_code == 302
    db.session.refresh(report)
    assert report.status == "investigating"
    notes = [u.note for u in db.session.scalars(select(ReportUpdate).order_by(ReportUpdate.created_at))]
    assert notes == ["已派民警核查", "已立案侦查"]
    assert "已派民警核查" not in db.session.scalar(select(ReportUpdate.note_enc).limit(1))
    updates = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "update",
                                                          AuditEvent.object_id == report.id)).all()
    assert len(updates) == 2
    own = client.application.test_client()
    login(own, reporter)
    listing = own.get("/reports/")
    assert "Passed to investigation" in listing.text and "医院急诊" in listing.text
    page = own.get(url)
    assert page.status_code == 200 and "Passed to investigation" in page.text
    assert "已立案侦查" not in page.text  # the police notes stay with the police
    assert 'name="note"' not in page.text


def test_a_colleague_of_the_reporter_sees_it_but_cannot_act(client, orgs, make_user):
    report, _reporter = _filed(orgs, make_user)
    colleague = make_user("clinician", orgs["hospital"])
    login(client, colleague)
    assert client.get(f"/reports/{report.id}").status_code == 200
    response = post_form(client, f"/reports/{report.id}", {"status": "acknowledged", "note": "冒充", "version": "1"})
    assert response.status_code == 403
    db.session.refresh(report)
    assert report.status == "submitted" and report.read_at is None
    assert db.session.scalar(select(ReportUpdate.id)) is None


def test_stale_step_is_a_conflict(client, orgs, make_user):
    report, _ = _filed(orgs, make_user)
    login(client, make_user("police", orgs["police"]))
    url = f"/reports/{report.id}"
    client.get(url)
    db.session.refresh(report)
    opened = str(report.version)
    assert post_form(client, url, {"status": "acknowledged", "note": "第一", "version": opened}).status_code == 302
    response = post_form(client, url, {"status": "investigating", "note": "过时", "version": opened})
    assert response.status_code == 409 and "过时" in response.text
    assert db.session.scalar(select(TraffickingReport.status)) == "acknowledged"


def test_script_tags_in_a_report_are_escaped(client, orgs, make_user):
    login(client, make_user("caseworker", orgs["shelter_a"]))
    assert file(client, orgs["police"], circumstances="<script>alert(1)</script>",
                place="<b>x</b>").status_code == 302
    report = db.session.scalar(select(TraffickingReport))
    station = client.application.test_client()
    login(station, make_user("police", orgs["police"]))
    for url in ("/reports/", f"/reports/{report.id}"):
        text = station.get(url).text
        assert "<script>alert(1)</script>" not in text and "<b>x</b>" not in text
        assert "&lt;b&gt;x&lt;/b&gt;" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in station.get(f"/reports/{report.id}").text


def test_unknown_report_id_is_404_and_audited(client, orgs, make_user):
    login(client, make_user("police", orgs["police"]))
    assert client.get("/reports/" + "0" * 32).status_code == 404
    assert client.get("/reports/" + "x" * 40).status_code == 404
    assert len(denials()) == 2
