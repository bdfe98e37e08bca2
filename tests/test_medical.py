"""Medical section: cost rules, visits and assessments through the forms, history, and the referral
boundary (only clinicians of the hospital the person is actively referred to)."""
import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.medical import rules
from victimcare.medical.models import DisabilityAssessment, MedicalVisit
from victimcare.people.models import PersonRevision
from victimcare.referrals import service as referrals

from .conftest import login as _login
from .conftest import post_form

TODAY = dt.date.today()


def login(client, user):
    """Log in and read the pages in English (the msgids), whatever the catalogue holds."""
    response = _login(client, user)
    client.get("/language/en")
    return response


@pytest.fixture
def caseworker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def person(orgs, make_person, caseworker):
    return make_person(orgs["shelter_a"], by=caseworker, name="就医对象")


@pytest.fixture
def hospital_b(make_org, orgs):
    return make_org("乙医院", "hospital", "320104", orgs["bureau"])


@pytest.fixture
def clinician(orgs, make_user, person, caseworker):
    """A clinician of the hospital the person is actively referred to."""
    user = make_user("clinician", orgs["hospital"])
    referral = referrals.refer(person, orgs["hospital"], "诊治", caseworker)
    referrals.accept(referral, user)
    db.session.commit()
    return user


def visit_data(**overrides):
    data = {"visit_date": (TODAY - dt.timedelta(days=3)).isoformat(), "visit_type": "basic_medical",
            "diagnosis": "营养不良", "notes": "补液", "total_cost": "1280.50", "insurance_paid": "900.25"}
    data.update(overrides)
    return data


def add_visit(client, person, **overrides):
    return post_form(client, f"/people/{person.id}/medical/visits", visit_data(**overrides),
                     page_url=f"/people/{person.id}/medical")


def denials(object_id, section=None):
    query = select(AuditEvent).where(AuditEvent.action == "denied", AuditEvent.object_id == object_id)
    if section:
        query = query.where(AuditEvent.section == section)
    return db.session.scalars(query).all()


# -- the cost rules themselves -----------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("0", ("", Decimal("0.00"))), ("0.00", ("", Decimal("0.00"))), ("0.01", ("", Decimal("0.01"))),
    ("1280.5", ("", Decimal("1280.50"))), (" 12 ", ("", Decimal("12.00"))),
    ("1000000", ("", Decimal("1000000.00"))), ("1000000.01", ("too_large", None)),
    ("0.005", ("decimals", None)), ("12.345", ("decimals", None)), ("-1", ("negative", None)),
    ("-0.01", ("negative", None)), ("abc", ("shape", None)), ("1e3", ("shape", None)), ("NaN", ("shape", None)),
    ("Infinity", ("shape", None)), ("1,000", ("shape", None)), ("", ("shape", None)), (".5", ("shape", None)),
])
def test_parse_amount_edges(text, expected):
    problem, value = rules.parse_amount(text)
    assert (problem or "", value) == expected


def test_self_pay_is_total_minus_insurance():
    assert rules.self_pay(Decimal("1280.50"), Decimal("900.25")) == Decimal("380.25")
    assert rules.self_pay(Decimal("100.00"), Decimal("100.00")) == Decimal("0.00")
    assert rules.self_pay(Decimal("0.00"), Decimal("0.00")) == Decimal("0.00")
    with pytest.raises(ValueError):
        rules.self_pay(Decimal("100.00"), Decimal("100.01"))
    with pytest.raises(ValueError):
        rules.self_pay(Decimal("-1.00"), Decimal("0.00"))


def test_cost_totals_add_up_exactly():
    visits = [MedicalVisit(total_cost=Decimal("0.10"), insurance_paid=Decimal("0.05"), self_pay=Decimal("0.05"))
              for _ in range(3)]
    assert rules.cost_totals(visits) == {"total_cost": Decimal("0.30"), "insurance_paid": Decimal("0.15"),
                                         "self_pay": Decimal("0.15")}


# -- visits through the form -------------------------------------------------------
def test_clinician_records_a_visit_self_pay_computed_and_text_encrypted(client, orgs, clinician, person):
    login(client, clinician)
    response = add_visit(client, person, self_pay="1.00")  # a typed self-pay is ignored
    assert response.status_code == 302
    visit = db.session.scalar(select(MedicalVisit))
    assert (visit.total_cost, visit.insurance_paid, visit.self_pay) == (
        Decimal("1280.50"), Decimal("900.25"), Decimal("380.25"))
    assert visit.organisation_id == orgs["hospital"].id and visit.created_by_id == clinician.id
    assert visit.diagnosis == "营养不良" and "营养不良" not in visit.diagnosis_enc
    assert "补液" not in (visit.notes_enc or "")
    page = client.get(f"/people/{person.id}/medical")
    assert "营养不良" in page.text and "380.25" in page.text and "1280.50" in page.text
    created = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "create",
                                                          AuditEvent.section == "medical")).all()
    assert len(created) == 1 and "营养不良" not in created[0].details


@pytest.mark.parametrize("field, value, message", [
    ("total_cost", "0.005", "At most two decimals"),
    ("insurance_paid", "0.005", "At most two decimals"),
    ("total_cost", "-5", "cannot be negative"),
    ("insurance_paid", "-0.01", "cannot be negative"),
    ("insurance_paid", "1280.51", "Insurance cannot have paid more than the total cost"),
    ("total_cost", "2000000", "1,000,000 yuan"),
    ("total_cost", "1e3", "digits with at most two decimals"),
    ("total_cost", "", "Give the total cost"),
    ("insurance_paid", "", "Give the amount insurance paid"),
    ("visit_date", (TODAY + dt.timedelta(days=1)).isoformat(), "This date is in the future"),
    ("visit_date", "2024-02-30", "Not a valid date value"),
    ("visit_date", "", "Give the date of the visit"),
    ("visit_type", "surgery", "Choose the type of care"),
    ("visit_type", "", "Choose the type of care"),
    ("diagnosis", "x" * 4001, "4000"),
])
def test_visit_form_errors_keep_input_and_save_nothing(client, clinician, person, field, value, message):
    login(client, clinician)
    response = add_visit(client, person, **{field: value}, notes="保留的备注")
    assert response.status_code == 200
    assert message in response.text and f'id="{field}-error"' in response.text
    assert "保留的备注" in response.text
    if value and field in ("total_cost", "insurance_paid", "visit_date"):
        assert f'value="{value}"' in response.text  # typed input is shown again as typed
    assert db.session.scalar(select(MedicalVisit.id)) is None


def test_insurance_equal_to_total_and_zero_costs_are_accepted(client, clinician, person):
    login(client, clinician)
    assert add_visit(client, person, total_cost="500", insurance_paid="500.00").status_code == 302
    assert add_visit(client, person, total_cost="0", insurance_paid="0",
                     visit_type="psychological_counselling", visit_date=TODAY.isoformat()).status_code == 302
    self_pays = sorted(db.session.scalars(select(MedicalVisit.self_pay)).all())
    assert self_pays == [Decimal("0.00"), Decimal("0.00")]


def test_editing_keeps_history_and_recomputes_self_pay(client, clinician, person):
    login(client, clinician)
    add_visit(client, person)
    visit = db.session.scalar(select(MedicalVisit))
    url = f"/medical/visits/{visit.id}/edit"
    form = client.get(url)
    assert form.status_code == 200 and 'value="1280.50"' in form.text
    response = post_form(client, url, visit_data(total_cost="1300.00", diagnosis="贫血", version="1"))
    assert response.status_code == 302
    db.session.refresh(visit)
    assert (visit.total_cost, visit.self_pay, visit.diagnosis, visit.version) == (
        Decimal("1300.00"), Decimal("399.75"), "贫血", 2)
    revisions = db.session.scalars(select(PersonRevision).where(PersonRevision.section == "medical")
                                   .order_by(PersonRevision.changed_at)).all()
    assert len(revisions) == 2
    import json
    changes = json.loads(revisions[-1].changes)
    assert changes["diagnosis"] == ["营养不良", "贫血"]
    assert changes["self_pay"] == ["380.25", "399.75"]
    assert "贫血" not in revisions[-1].changes_enc
    history = client.get(f"/people/{person.id}/history")
    assert "营养不良" in history.text and "贫血" in history.text
    updates = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "update",
                                                          AuditEvent.section == "medical")).all()
    assert len(updates) == 1


def test_stale_edit_is_a_conflict_with_input_kept(client, clinician, person):
    login(client, clinician)
    add_visit(client, person)
    visit = db.session.scalar(select(MedicalVisit))
    url = f"/medical/visits/{visit.id}/edit"
    assert post_form(client, url, visit_data(notes="第一次修改", version="1")).status_code == 302
    response = post_form(client, url, visit_data(notes="过时的修改", version="1"))
    assert response.status_code == 409
    assert "过时的修改" in response.text
    db.session.refresh(visit)
    assert visit.notes == "第一次修改"


def test_an_edit_with_an_invalid_amount_changes_nothing(client, clinician, person):
    login(client, clinician)
    add_visit(client, person)
    visit = db.session.scalar(select(MedicalVisit))
    response = post_form(client, f"/medical/visits/{visit.id}/edit",
                         visit_data(insurance_paid="5000", diagnosis="不应保存", version="1"))
    assert response.status_code == 200 and "Insurance cannot have paid more" in response.text
    db.session.refresh(visit)
    assert (visit.diagnosis, visit.version) == ("营养不良", 1)


# -- disability assessments ----------------------------------------------------------
def assessment_data(**overrides):
    data = {"category": "intellectual", "grade": "3", "institution": "市残联评定中心",
            "assessed_on": (TODAY - dt.timedelta(days=1)).isoformat(), "notes": ""}
    data.update(overrides)
    return data


def test_assessment_recorded_and_edited_with_history(client, clinician, person):
    login(client, clinician)
    response = post_form(client, f"/people/{person.id}/medical/assessments", assessment_data(),
                         page_url=f"/people/{person.id}/medical")
    assert response.status_code == 302
    entry = db.session.scalar(select(DisabilityAssessment))
    assert (entry.category, entry.grade, entry.institution) == ("intellectual", 3, "市残联评定中心")
    assert "市残联" not in entry.institution_enc
    url = f"/medical/assessments/{entry.id}/edit"
    assert post_form(client, url, assessment_data(grade="2", version="1")).status_code == 302
    db.session.refresh(entry)
    assert (entry.grade, entry.version) == (2, 2)
    assert "Grade 2" in client.get(f"/people/{person.id}/medical").text
    revisions = db.session.scalars(select(PersonRevision).where(PersonRevision.entry_id == entry.id)).all()
    assert len(revisions) == 2


@pytest.mark.parametrize("field, value, message", [
    ("grade", "5", "Choose the grade"), ("grade", "0", "Choose the grade"), ("grade", "", "Choose the grade"),
    ("category", "emotional", "Choose the category"), ("category", "", "Choose the category"),
    ("institution", "", "Name the institution"),
    ("assessed_on", (TODAY + dt.timedelta(days=1)).isoformat(), "This date is in the future"),
    ("assessed_on", "", "Give the date of the assessment"),
])
def test_assessment_form_errors(client, clinician, person, field, value, message):
    login(client, clinician)
    response = post_form(client, f"/people/{person.id}/medical/assessments",
                         assessment_data(**{field: value}, notes="保留"), page_url=f"/people/{person.id}/medical")
    assert response.status_code == 200 and message in response.text and "保留" in response.text
    assert db.session.scalar(select(DisabilityAssessment.id)) is None


@pytest.mark.parametrize("grade", ["1", "4"])
def test_grade_edges_accepted(client, clinician, person, grade):
    login(client, clinician)
    response = post_form(client, f"/people/{person.id}/medical/assessments", assessment_data(grade=grade),
                         page_url=f"/people/{person.id}/medical")
    assert response.status_code == 302
    assert db.session.scalar(select(DisabilityAssessment.grade)) == int(grade)


# -- the section page and the summary card -----------------------------------------------
def test_summary_card_and_totals_for_the_manager_who_only_reads(client, orgs, clinician, person, make_user):
    login(client, clinician)
    add_visit(client, person)
    add_visit(client, person, total_cost="100", insurance_paid="40.5", visit_type="psychiatric_treatment")
    manager = make_user("manager", orgs["bureau"])
    other = client.application.test_client()
    login(other, manager)
    overview = other.get(f"/people/{person.id}")
    assert "Medical care" in overview.text and "439.75" in overview.text  # 380.25 + 59.50
    page = other.get(f"/people/{person.id}/medical")
    assert page.status_code == 200
    assert "1380.50" in page.text and "940.75" in page.text and "439.75" in page.text
    assert "Record a visit" not in page.text and "/edit" not in page.text
    visit = db.session.scalar(select(MedicalVisit).limit(1))
    assert post_form(other, f"/people/{person.id}/medical/visits", visit_data(),
                     page_url=f"/people/{person.id}/medical").status_code == 403
    assert other.get(f"/medical/visits/{visit.id}/edit").status_code == 403
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "view", AuditEvent.section == "medical",
                                                      AuditEvent.user_id == manager.id)) is not None


def test_script_typed_into_text_is_escaped(client, clinician, person):
    login(client, clinician)
    add_visit(client, person, diagnosis="<script>alert(1)</script>")
    page = client.get(f"/people/{person.id}/medical")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


def test_the_section_page_is_audited_as_a_view(client, clinician, person):
    login(client, clinician)
    assert client.get(f"/people/{person.id}/medical").status_code == 200
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "view", AuditEvent.section == "medical",
                                                      AuditEvent.object_id == person.id)) is not None


# -- trying to break the referral boundary -----------------------------------------------
def test_clinician_of_a_hospital_the_person_is_not_referred_to(client, clinician, person, hospital_b, make_user):
    login(client, clinician)
    add_visit(client, person)
    visit = db.session.scalar(select(MedicalVisit))
    stranger = make_user("clinician", hospital_b)
    other = client.application.test_client()
    login(other, stranger)
    assert other.get(f"/people/{person.id}/medical").status_code == 404
    assert other.get(f"/medical/visits/{visit.id}/edit").status_code == 404
    response = post_form(other, f"/people/{person.id}/medical/visits", visit_data(), page_url="/")
    assert response.status_code == 404
    assert len(denials(person.id, "medical")) == 3
    assert db.session.scalar(select(MedicalVisit.id).where(MedicalVisit.id != visit.id)) is None


def test_person_referred_only_to_hospital_b_is_hidden_from_hospital_a(client, orgs, caseworker, make_person,
                                                                    make_user, hospital_b):
    other_person = make_person(orgs["shelter_a"], by=caseworker, name="乙院病人")
    referral = referrals.refer(other_person, hospital_b, "诊治", caseworker)
    referrals.accept(referral, make_user("clinician", hospital_b))
    db.session.commit()
    login(client, make_user("clinician", orgs["hospital"]))
    response = client.get(f"/people/{other_person.id}/medical")
    assert response.status_code == 404 and "乙院病人" not in response.text
    assert denials(other_person.id, "medical")


def test_clinician_cannot_read_other_sections(client, clinician, person):
    login(client, clinician)
    for url in (f"/people/{person.id}/edit", f"/people/{person.id}/dna", f"/people/{person.id}/referrals"):
        assert client.get(url).status_code in (403, 404), url
    from victimcare import access
    assert not access.can(clinician, "read", person, "legal")
    assert denials(person.id)


@pytest.mark.parametrize("end", ["close", "decline"])
def test_access_ends_with_the_referral(client, orgs, caseworker, person, make_user, end):
    user = make_user("clinician", orgs["hospital"])
    referral = referrals.refer(person, orgs["hospital"], "诊治", caseworker)
    if end == "close":
        referrals.accept(referral, user)
        db.session.commit()
        login(client, user)
        add_visit(client, person)
        referrals.close(referral, "治疗结束", caseworker)
    else:
        referrals.decline(referral, "无床位", user)
        login(client, user)
    db.session.commit()
    assert client.get(f"/people/{person.id}/medical").status_code == 404
    assert add_visit(client, person, diagnosis="关闭后").status_code == 404
    visits = db.session.scalars(select(MedicalVisit)).all()
    assert [v.diagnosis for v in visits] == (["营养不良"] if end == "close" else [])
    for visit in visits:
        assert client.get(f"/medical/visits/{visit.id}/edit").status_code == 404
    assert len(denials(person.id, "medical")) >= 2 + len(visits)


def test_pending_referral_gives_only_the_summary(client, orgs, caseworker, person, make_user):
    user = make_user("clinician", orgs["hospital"])
    referrals.refer(person, orgs["hospital"], "诊治", caseworker)
    db.session.commit()
    login(client, user)
    assert client.get(f"/people/{person.id}").status_code == 200
    response = client.get(f"/people/{person.id}/medical")
    assert response.status_code == 403
    assert add_visit(client, person, diagnosis="未接受").status_code == 403
    assert db.session.scalar(select(MedicalVisit.id)) is None
    assert denials(person.id, "medical")


def test_a_caseworker_of_the_owning_shelter_cannot_read_medical(client, caseworker, clinician, person):
    login(client, caseworker)
    assert client.get(f"/people/{person.id}/medical").status_code == 403
    assert f'href="/people/{person.id}/medical"' not in client.get(f"/people/{person.id}").text


def test_another_hospital_cannot_edit_entries_of_the_first(client, orgs, caseworker, clinician, person,
                                                          hospital_b, make_user):
    """Both hospitals treat the person; each edits only its own entries (its ledger), and sees both."""
    login(client, clinician)
    add_visit(client, person)
    visit = db.session.scalar(select(MedicalVisit))
    user_b = make_user("clinician", hospital_b)
    referral = referrals.refer(person, hospital_b, "会诊", caseworker)
    referrals.accept(referral, user_b)
    db.session.commit()
    other = client.application.test_client()
    login(other, user_b)
    page = other.get(f"/people/{person.id}/medical")
    assert page.status_code == 200 and "营养不良" in page.text and f"/medical/visits/{visit.id}/edit" not in page.text
    assert other.get(f"/medical/visits/{visit.id}/edit").status_code == 403
    assert post_form(other, f"/medical/visits/{visit.id}/edit", visit_data(total_cost="1", insurance_paid="0",
                     version="1"), page_url=f"/people/{person.id}/medical").status_code == 403
    db.session.refresh(visit)
    assert visit.total_cost == Decimal("1280.50")
    assert denials(person.id, "medical")


def test_closed_file_takes_no_new_entries(client, clinician, person):
    person.status = "closed"
    db.session.commit()
    login(client, clinician)
    page = client.get(f"/people/{person.id}/medical")
    assert page.status_code == 200 and "Record a visit" not in page.text
    assert add_visit(client, person).status_code == 409
    assert db.session.scalar(select(MedicalVisit.id)) is None


def test_csrf_is_required(client, clinician, person):
    login(client, clinician)
    response = client.post(f"/people/{person.id}/medical/visits", data=visit_data())
    assert response.status_code == 400
    assert db.session.scalar(select(MedicalVisit.id)) is None
