"""The place-of-origin picker: the shipped division table, the lists with and without JavaScript, the
checks on what is posted, old codes the table does not know, and the full name on the file and in the PDF."""
from __future__ import annotations

import csv
import html
import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from victimcare import demo, regions
from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.people.models import Person, PersonRevision
from victimcare.people.rules import origin_choice_problem

from .conftest import csrf_from, post_form
from .test_people import form_data as people_form_data


# -- the table -------------------------------------------------------------------------------------------
def test_the_table_has_every_province_level_unit_and_the_known_codes():
    provinces = {d.code: d.name for d in regions.children()}
    assert len(provinces) == 34
    assert {"110000": "北京市", "120000": "天津市", "310000": "上海市", "500000": "重庆市", "710000": "台湾省",
            "810000": "香港特别行政区", "820000": "澳门特别行政区"}.items() <= provinces.items()
    assert regions.lookup("110101") == ("北京市", None, "东城区")          # a municipality's district
    assert regions.lookup("530102") == ("云南省", "昆明市", "五华区")
    assert regions.lookup("530100") == ("云南省", "昆明市", None)
    assert regions.lookup("429004") == ("湖北省", None, "仙桃市")          # under the province directly
    assert regions.full_name("530102") == "云南省 昆明市 五华区"
    assert regions.full_name("429004") == "湖北省 仙桃市"
    assert [d.code for d in regions.path("530102")] == ["530000", "530100", "530102"]
    assert {"429004", "429005", "429006", "429021"} <= {d.code for d in regions.children("420000")}
    assert "110101" in {d.code for d in regions.children("110000")}
    for territory in ("710000", "810000", "820000"):
        assert regions.children(territory) == ()


def test_the_table_is_a_tree_of_six_digit_codes():
    with open(regions.TABLE_FILE, encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    codes = [r["code"] for r in rows]
    assert 3100 < len(rows) < 3400 and len(codes) == len(set(codes))
    assert all(re.fullmatch(r"\d{6}", c) for c in codes)
    by_code = {r["code"]: r for r in rows}
    for row in rows:
        parent = row["parent"]
        if not parent:
            assert row["code"].endswith("0000")
            continue
        assert parent in by_code and row["code"][:2] == parent[:2], row
        if not row["code"].endswith("00"):      # a county-level unit: under a city or the province
            assert parent.endswith("00")
        else:                                   # a prefecture-level unit: under its province
            assert parent.endswith("0000")
    levels = {"province": 0, "city": 0, "county": 0}
    for row in rows:
        levels["province" if not row["parent"] else "county" if not row["code"].endswith("00") else "city"] += 1
    assert levels["province"] == 34 and 320 < levels["city"] < 345 and 2800 < levels["county"] < 2900


@pytest.mark.parametrize("code", ["", None, "110100", "999999", "53010", "5301021", "abcdef"])
def test_codes_the_table_does_not_hold(code):
    assert not regions.is_valid(code)
    assert regions.lookup(code) is None and regions.full_name(code) is None
    assert regions.children(code) == () or code in ("", None)


def test_the_demo_people_come_from_places_in_the_table():
    assert all(regions.is_valid(code) for code in demo.ORIGINS)


@pytest.mark.parametrize("levels, problem", [
    (("530000", None, None), None), (("530000", "530100", None), None), (("530000", "530100", "530102"), None),
    (("110000", "110101", None), None), (("420000", "429004", None), None),
    (("530100", None, None), ("province", "not_under_parent")),      # a city given as a province
    (("990000", None, None), ("province", "unknown")),
    (("530000", "320100", None), ("city", "not_under_parent")),       # a city of another province
    (("530000", "530100", "320102"), ("county", "not_under_parent")),
    (("530000", "530102", None), ("city", "not_under_parent")),       # a county skipping its city
    ((None, "530100", None), ("city", "missing_parent")),
    (("530000", None, "530102"), ("county", "missing_parent")),
    (("110000", "110101", "110102"), ("county", "not_under_parent")),  # districts have no third level
])
def test_origin_choice_rule(levels, problem):
    assert origin_choice_problem(*levels) == problem


# -- the form without JavaScript ------------------------------------------------------------------------
@pytest.fixture
def caseworker(client, orgs, logged_in):
    user = logged_in("caseworker", orgs["shelter_a"])
    client.get("/language/en")
    return user


def form_data(orgs, **fields):
    """The registration form as tests/test_people.py fills it, with the place lists, and typed text that
    a "show" post must keep."""
    data = people_form_data(orgs, origin_province="", origin_city="", origin_county="",
                            origin_address="云南某村", rescue_place="长途汽车上", notes="她说家在山里")
    data.update(fields)
    return data


def people_count():
    return db.session.scalar(select(func.count()).select_from(Person))


def creations():
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == "create",
                                                       AuditEvent.object_type == "person")).all()


def options_of(page: str, name: str) -> dict[str, str]:
    """value -> label of a select's options."""
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select_html, f"no select {name}"
    return {v: html.unescape(label) for v, label in
            re.findall(r'<option[^>]*value="([^"]*)"[^>]*>([^<]*)</option>', select_html.group(1))}


def selected(page: str, name: str) -> str | None:
    select_html = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S).group(1)
    match = re.search(r'<option[^>]*selected[^>]*value="([^"]*)"|<option[^>]*value="([^"]*)"[^>]*selected',
                      select_html)
    return (match.group(1) or match.group(2)) if match else None


def choose(client, url, data, level):
    return client.post(url, data={"csrf_token": csrf_from(client.get(url).text), **data, "origin_choose": level})


def test_the_form_has_three_labelled_lists_and_a_script_file(client, orgs, caseworker):
    page = client.get("/people/new").text
    for name, label in (("origin_province", "Province"), ("origin_city", "City"),
                        ("origin_county", "County or district")):
        assert f'<label for="{name}">{label}</label>' in page
    provinces = options_of(page, "origin_province")
    assert len(provinces) == 35 and provinces["530000"] == "云南省" and provinces[""] == "—"
    assert list(options_of(page, "origin_city")) == [""] and list(options_of(page, "origin_county")) == [""]
    assert 'src="/static/js/region.js"' in page and not re.search(r"<script(?![^>]*\bsrc=)", page)
    # Enter in a text field presses the first submit button: a plain save, before the "choose" buttons.
    form = page[page.index('<form method="post" novalidate class="sections">'):]
    first_submit = re.search(r'<button type="submit"[^>]*>', form).group(0)
    assert "origin_choose" not in first_submit and "hidden" in first_submit
    assert 'name="origin_choose" value="province"' in page and 'name="origin_choose" value="city"' in page
    assert 'name="origin_code"' not in page          # the code field only for a code the lists cannot show


def test_choosing_without_javascript_fills_the_next_list_keeps_the_input_and_saves_nothing(client, orgs, caseworker):
    before = people_count()
    response = choose(client, "/people/new", form_data(orgs, origin_province="530000"), "province")
    page = response.text
    assert response.status_code == 200
    cities = options_of(page, "origin_city")
    assert cities["530100"] == "昆明市" and "320100" not in cities
    assert selected(page, "origin_province") == "530000"
    assert 'value="林小燕"' in page and "她说家在山里" in page and "云南某村" in page and 'value="长途汽车上"' in page
    assert 'class="error"' not in page and "Please correct" not in page
    assert people_count() == before and creations() == []

    page = choose(client, "/people/new", form_data(orgs, origin_province="530000", origin_city="530100"), "city").text
    assert options_of(page, "origin_county")["530102"] == "五华区"
    assert selected(page, "origin_city") == "530100" and 'class="error"' not in page
    assert people_count() == before

    response = post_form(client, "/people/new", form_data(orgs, origin_province="530000", origin_city="530100",
                                                          origin_county="530102"))
    assert response.status_code == 302
    person = db.session.scalars(select(Person)).one()
    assert person.origin_code == "530102"


def test_a_new_province_clears_the_lists_left_from_the_old_one(client, orgs, caseworker):
    data = form_data(orgs, origin_province="320000", origin_city="530100", origin_county="530102")
    page = choose(client, "/people/new", data, "province").text
    assert options_of(page, "origin_city")["320100"] == "南京市"
    assert selected(page, "origin_city") is None and list(options_of(page, "origin_county")) == [""]
    assert 'class="error"' not in page


@pytest.mark.parametrize("levels, stored", [
    ({"origin_province": "530000"}, "530000"),
    ({"origin_province": "530000", "origin_city": "530100"}, "530100"),
    ({"origin_province": "530000", "origin_city": "530100", "origin_county": "530102"}, "530102"),
    ({"origin_province": "110000", "origin_city": "110101"}, "110101"),
    ({"origin_province": "420000", "origin_city": "429004"}, "429004"),
    ({"origin_province": "810000"}, "810000"),
    ({}, None),
])
def test_each_level_can_be_saved(client, orgs, caseworker, levels, stored):
    response = post_form(client, "/people/new", form_data(orgs, **levels))
    assert response.status_code == 302, re.findall(r'class="error"[^>]*>([^<]*)', response.text)
    assert db.session.scalars(select(Person)).one().origin_code == stored


@pytest.mark.parametrize("levels, field, message", [
    ({"origin_province": "530000", "origin_city": "320100"}, "origin_city",
     "This place is not in the one chosen above it: choose it again from the list."),
    ({"origin_province": "530000", "origin_city": "530100", "origin_county": "110101"}, "origin_county",
     "This place is not in the one chosen above it: choose it again from the list."),
    ({"origin_province": "990000"}, "origin_province",
     "This place is not in the table of administrative divisions: choose it from the list."),
    ({"origin_province": "<b>x</b>"}, "origin_province",
     "This place is not in the table of administrative divisions: choose it from the list."),
    ({"origin_city": "530100"}, "origin_city", "Choose the level above first."),
    ({"origin_code": "110100"}, "origin_code", "This code is not in the table of administrative divisions."),
    ({"origin_code": "990102"}, "origin_code", "The first two digits are not a province code."),
])
def test_tampered_or_unknown_places_are_refused_at_the_field(client, orgs, caseworker, levels, field, message):
    response = post_form(client, "/people/new", form_data(orgs, **levels))
    page = response.text
    assert response.status_code == 200
    assert message in html.unescape(page) and f'id="{field}-error"' in page
    assert "<b>x</b>" not in page
    assert 'value="林小燕"' in page and "她说家在山里" in page
    assert people_count() == 0 and creations() == []


def test_a_posted_code_in_the_table_is_accepted_and_shown_in_the_lists(client, orgs, caseworker):
    """origin_code stays a way to post the place (scripts, older clients); an error elsewhere shows it
    back in the lists, so saving again keeps it."""
    page = post_form(client, "/people/new", form_data(orgs, origin_code="530102", date_of_birth="")).text
    assert selected(page, "origin_province") == "530000" and selected(page, "origin_county") == "530102"
    response = post_form(client, "/people/new", form_data(orgs, origin_code="530102"))
    assert response.status_code == 302
    assert db.session.scalars(select(Person)).one().origin_code == "530102"


# -- records with a code the table does not hold ---------------------------------------------------------
@pytest.fixture
def old_record(orgs, make_person):
    """江北区 of 重庆, abolished in 2025: a file registered before that keeps its code."""
    return make_person(orgs["shelter_a"], origin_code="500105")


def edit_data(person, **fields):
    data = {"version": str(person.version), "name": person.name or "", "aliases": "", "sex": person.sex,
            "date_of_birth": person.date_of_birth.isoformat(), "estimated_age": "", "id_number": "",
            "nationality": "CHN", "origin_province": "", "origin_city": "", "origin_county": "",
            "identity_status": person.identity_status, "identified_method": "", "identified_on": "",
            "tracing_result": person.tracing_result}
    data.update(fields)
    return data


def test_an_old_code_is_shown_with_a_note_and_kept_when_saving(client, orgs, caseworker, old_record):
    page = html.unescape(client.get(f"/people/{old_record.id}").text)
    assert "500105 (not in the current table of administrative divisions)" in page
    url = f"/people/{old_record.id}/edit"
    form = client.get(url).text
    assert re.search(r'<input[^>]*name="origin_code"[^>]*value="500105"', form)
    assert selected(form, "origin_province") is None
    response = post_form(client, url, edit_data(old_record, origin_code="500105", notes="复查"))
    assert response.status_code == 302
    db.session.refresh(old_record)
    assert old_record.origin_code == "500105" and old_record.notes == "复查"


def test_an_old_code_is_replaced_by_a_chosen_place_or_cleared(client, orgs, caseworker, old_record, make_person):
    url = f"/people/{old_record.id}/edit"
    response = post_form(client, url, edit_data(old_record, origin_code="500105", origin_province="500000",
                                                origin_city="500157"))
    assert response.status_code == 302
    db.session.refresh(old_record)
    assert old_record.origin_code == "500157"
    other = make_person(orgs["shelter_a"], origin_code="500112")
    assert post_form(client, f"/people/{other.id}/edit", edit_data(other, origin_code="")).status_code == 302
    db.session.refresh(other)
    assert other.origin_code is None


def test_editing_cannot_swap_in_another_unknown_code(client, orgs, caseworker, old_record):
    url = f"/people/{old_record.id}/edit"
    response = post_form(client, url, edit_data(old_record, origin_code="500112"))
    assert response.status_code == 200
    assert "This code is not in the table of administrative divisions." in html.unescape(response.text)
    db.session.refresh(old_record)
    assert old_record.origin_code == "500105"


def person_revisions(person):
    return db.session.scalars(select(PersonRevision).where(PersonRevision.person_id == person.id)).all()


def test_a_known_code_is_preselected_when_editing(client, orgs, caseworker, make_person):
    person = make_person(orgs["shelter_a"], origin_code="110101")
    page = client.get(f"/people/{person.id}/edit").text
    assert selected(page, "origin_province") == "110000" and selected(page, "origin_city") == "110101"
    assert options_of(page, "origin_city")["110105"] == "朝阳区"
    assert 'name="origin_code"' not in page
    response = post_form(client, f"/people/{person.id}/edit", edit_data(person, origin_province="110000",
                                                                         origin_city="110101"))
    assert response.status_code == 302
    db.session.refresh(person)
    assert person.origin_code == "110101"
    assert not any("origin_code" in (r.changes or "") for r in person_revisions(person))


# -- the full name on the file and in the PDF -----------------------------------------------------------
@pytest.mark.parametrize("language", ["zh", "en"])
def test_the_file_shows_the_full_chinese_name(client, orgs, logged_in, make_person, language):
    logged_in("caseworker", orgs["shelter_a"])
    client.get(f"/language/{language}")
    person = make_person(orgs["shelter_a"], origin_code="530102")
    page = client.get(f"/people/{person.id}").text
    assert "云南省 昆明市 五华区 (530102)" in page


def test_the_summary_pdf_names_the_place(client, orgs, logged_in, make_person):
    logged_in("caseworker", orgs["shelter_a"])
    person = make_person(orgs["shelter_a"], origin_code="429004")
    url = f"/people/{person.id}/print"
    response = client.post(url, data={"csrf_token": csrf_from(client.get(url).text), "purpose": "个案会议讨论",
                                      "variant": "full", "recipient_name": "", "basis": "", "consent_given_by": "",
                                      "consent_given_on": "", "legal_basis": ""})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    text = "".join("".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(response.data)).pages)
    assert "湖北省仙桃市(429004)" in text


# -- the lists for the script ---------------------------------------------------------------------------
def test_the_lists_need_a_signed_in_user(client):
    response = client.get("/regions/children?parent=530000")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_lists_for_the_script(client, orgs, logged_in):
    logged_in("clinician", orgs["hospital"])  # any signed-in role: public data
    provinces = client.get("/regions/children").get_json()["children"]
    assert len(provinces) == 34 and {"code": "530000", "name": "云南省"} in provinces
    response = client.get("/regions/children?parent=530000")
    assert response.status_code == 200 and response.mimetype == "application/json"
    body = response.get_json()
    assert body["parent"] == "530000" and {"code": "530100", "name": "昆明市"} in body["children"]
    assert all(c["code"].startswith("53") for c in body["children"])
    assert {"code": "530102", "name": "五华区"} in client.get("/regions/children?parent=530100").get_json()["children"]
    assert client.get("/regions/children?parent=530102").get_json()["children"] == []
    for bad in ("999999", "<script>", "53"):
        assert client.get("/regions/children", query_string={"parent": bad}).status_code == 404


def test_the_lists_may_be_cached_by_the_browser_only(client, orgs, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    response = client.get("/regions/children?parent=420000")
    cache = response.headers["Cache-Control"]
    assert "private" in cache and "max-age=86400" in cache and "no-store" not in cache
    again = client.get("/regions/children?parent=420000", headers={"If-None-Match": response.headers["ETag"]})
    assert again.status_code == 304
    # Every other page stays out of caches, and so does the endpoint's error page (it names the user).
    assert client.get("/people/").headers["Cache-Control"] == "no-store"
    assert client.get("/regions/children?parent=999999").headers["Cache-Control"] == "no-store"


def test_choosing_on_the_edit_page_saves_nothing(client, orgs, caseworker, make_person):
    person = make_person(orgs["shelter_a"], origin_code="530102")
    version, revisions = person.version, len(person_revisions(person))
    url = f"/people/{person.id}/edit"
    page = choose(client, url, edit_data(person, name="改过的名字", origin_province="110000"), "province").text
    assert options_of(page, "origin_city")["110101"] == "东城区" and 'value="改过的名字"' in page
    assert 'class="error"' not in page
    db.session.refresh(person)
    assert (person.version, person.name, person.origin_code) == (version, "张丽", "530102")
    assert len(person_revisions(person)) == revisions
