"""The one search box and the filters that identify nobody (issue 8, points 1 and 3).

Each search asserts the exact people found AND their order: exact matches (a number, a name or an
alias) first, then same sound, then initials, newest first within a rank."""
from __future__ import annotations

import datetime as dt
import html
import json
import re

import pytest
from sqlalchemy import select

from victimcare.audit import AuditEvent
from victimcare.auth.models import utcnow
from victimcare.extensions import db
from victimcare.people import service
from victimcare.people.rules import id_check_digit
from victimcare.referrals import service as referrals

from .conftest import login


def _id_number_ending_in_x() -> str:
    """A valid resident ID number whose check digit is X (the case people type in lower case)."""
    for seq in range(100, 1000):
        first17 = f"11010119900307{seq}"
        if id_check_digit(first17) == "X":
            return first17 + "X"
    raise AssertionError("no X check digit")


ID_NUMBER = _id_number_ending_in_x()
POLICE_CASE = "宁公刑〔2025〕17号"
# Registered oldest first: (key, name, aliases, organisation key, extra fields).
PEOPLE = [
    ("zhang_li", "张丽", None, "shelter_a", {"id_number": ID_NUMBER, "origin_code": "320102"}),
    ("zhang_li_jasmine", "章莉", None, "shelter_a", {"origin_code": "320104", "date_of_birth": dt.date(2008, 1, 2)}),
    ("zhang_li_b", "张莉", None, "shelter_b", {"origin_code": "330102"}),
    ("zhang_li_strength", "张力", None, "shelter_a", {"sex": "male", "date_of_birth": dt.date(1990, 3, 4),
                                                      "origin_code": "110101"}),
    ("wang_li", "王丽", None, "shelter_a", {"origin_code": "320102", "police_case_number": POLICE_CASE}),
    ("li_mei_alias", "李梅", "张丽", "shelter_a", {"origin_code": "320102"}),
    ("elsewhere", "张丽", None, "other_shelter", {"origin_code": "320102"}),
]
SOUND_ALIKE = ["li_mei_alias", "zhang_li_strength", "zhang_li_b", "zhang_li_jasmine", "zhang_li"]  # newest first


@pytest.fixture
def world(orgs, make_user, make_person):
    """The people above, a minute apart (so "newest first" is a fact, not a race), and a caseworker
    of the bureau, who reaches both shelters but not the other bureau's."""
    registrar = make_user("caseworker", orgs["shelter_a"])
    start = utcnow() - dt.timedelta(hours=1)
    people = {}
    for i, (key, name, aliases, org, extra) in enumerate(PEOPLE):
        person = make_person(orgs[org], by=registrar, name=name, aliases=aliases, **extra)
        person.created_at = start + dt.timedelta(minutes=i)
        people[key] = person
    db.session.commit()
    return people


@pytest.fixture
def caseworker(orgs, world, logged_in):
    return logged_in("caseworker", orgs["bureau"])


ROW = re.compile(r'<tr>\s*<td><a href="/people/[^"]+">([^<]+)</a></td>\s*<td>([^<]*)</td>\s*'
                 r'(?:<td class="match match-(\w+)">)?')


def results(client, world, **params) -> list[tuple[str, str | None]]:
    """(person key, how found) per row of the caseload, in page order."""
    response = client.get("/people/", query_string=params)
    assert response.status_code == 200
    by_number = {p.case_number: key for key, p in world.items()}
    return [(by_number[number], match) for number, _name, match in ROW.findall(response.text)]


def keys(found) -> list[str]:
    return [key for key, _match in found]


@pytest.mark.parametrize("query", ["张丽", "  张丽 "])
def test_chinese_name_finds_exact_name_and_alias_first_then_same_sound(client, world, caseworker, query):
    found = results(client, world, q=query)
    assert found == [("li_mei_alias", "exact"), ("zhang_li", "exact"), ("zhang_li_strength", "sound"),
                     ("zhang_li_b", "sound"), ("zhang_li_jasmine", "sound")]


@pytest.mark.parametrize("query", ["zhang li", "zhangli", "Zhāng Lì", "ZHANG LI", "ZhangLi", "張麗"])
def test_pinyin_and_traditional_characters_find_every_same_sound_name(client, world, caseworker, query):
    """No one is called "zhang li" in characters: all five sound alike (rank 2), newest first.
    Traditional 張麗 is read by pypinyin directly: same sound, not the same characters."""
    assert results(client, world, q=query) == [(key, "sound") for key in SOUND_ALIKE]


@pytest.mark.parametrize("query", ["zl", "ZL", "Z.L."])
def test_initials_find_the_same_people_ranked_as_initials(client, world, caseworker, query):
    assert results(client, world, q=query) == [(key, "initials") for key in SOUND_ALIKE]


def test_a_family_name_alone_finds_everyone_of_that_family_sound(client, world, caseworker):
    """A child remembers only 张: 章 sounds the same; 王 and 李 do not (李梅's alias is 张丽)."""
    assert results(client, world, q="张") == [(key, "sound") for key in SOUND_ALIKE]


def test_different_sound_finds_only_itself(client, world, caseworker):
    assert results(client, world, q="王丽") == [("wang_li", "exact")]
    assert results(client, world, q="wang li") == [("wang_li", "sound")]


@pytest.mark.parametrize("typed", [ID_NUMBER, ID_NUMBER.lower(), f"{ID_NUMBER[:6]} {ID_NUMBER[6:14]} {ID_NUMBER[14:].lower()}"])
def test_id_number_finds_its_person_only(client, world, caseworker, typed):
    found = results(client, world, q=typed)
    assert found == [("zhang_li", "number")]
    client.get("/language/en")
    assert '<td class="match match-number">ID number</td>' in client.get("/people/", query_string={"q": typed}).text


@pytest.mark.parametrize("query", ["!!", "·", "〔〕"])
def test_an_entry_with_nothing_to_look_up_finds_no_one(client, world, caseworker, query):
    assert results(client, world, q=query) == []


@pytest.mark.parametrize("query", ["   ", "\u3000"])
def test_a_blank_entry_is_no_search(client, world, caseworker, query):
    """The form drops it (the whole caseload); the search itself finds no one for it, not everyone
    without a police case number (a blind index of nothing is no value, and ``== None`` is IS NULL)."""
    assert len(results(client, world, q=query)) == 6
    rows, total = service.caseload_page(caseworker, {"q": query}, 1, 25)
    assert (rows, total) == ([], 0)


def test_each_hit_says_how_it_was_found(client, world, caseworker):
    client.get("/language/en")
    page = client.get("/people/", query_string={"q": "张丽"}).text
    assert page.count(">exact name or alias</td>") == 2 and page.count(">same sound</td>") == 3
    assert client.get("/people/", query_string={"q": "zl"}).text.count(">initials</td>") == 5
    page = client.get("/people/", query_string={"q": POLICE_CASE}).text
    assert ROW.findall(page) == [(world["wang_li"].case_number, "王丽", "number")]
    assert ">police case number</td>" in page
    assert "Found by" not in client.get("/people/").text  # no search, no column


def test_case_number_finds_its_person_and_the_quick_search_opens_it(client, world, caseworker):
    number = world["zhang_li_b"].case_number
    assert results(client, world, q=number) == [("zhang_li_b", "number")]
    response = client.get("/people/find", query_string={"q": number})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/people/{world['zhang_li_b'].id}")
    # Any other entry goes to the caseload's ranked results.
    response = client.get("/people/find", query_string={"q": "zhang li"})
    assert response.status_code == 302 and "/people/?q=zhang" in response.headers["Location"]


def test_no_one_outside_the_searchers_organisation_is_found(client, world, orgs, logged_in):
    """A caseworker of shelter A: not shelter B's 张莉, never the other bureau's 张丽, by any entry."""
    logged_in("caseworker", orgs["shelter_a"])
    assert keys(results(client, world, q="张丽")) == ["li_mei_alias", "zhang_li", "zhang_li_strength",
                                                     "zhang_li_jasmine"]
    for query in ("zhangli", "zl", world["elsewhere"].case_number, world["zhang_li_b"].case_number):
        assert "elsewhere" not in keys(results(client, world, q=query))
    assert results(client, world, q=world["zhang_li_b"].case_number) == []
    # The quick search does not open her file: it goes to the (empty) results, as for no such number.
    response = client.get("/people/find", query_string={"q": world["elsewhere"].case_number})
    assert response.status_code == 302 and f"/people/{world['elsewhere'].id}" not in response.headers["Location"]
    assert results(client, world, q=world["elsewhere"].case_number) == []


def test_the_hospital_clinician_finds_a_referred_person_by_case_number_only(client, world, orgs, make_user):
    caseworker = make_user("caseworker", orgs["shelter_a"])
    clinician = make_user("clinician", orgs["hospital"])
    referral = referrals.refer(world["zhang_li"], orgs["hospital"], "请诊治", caseworker)
    referrals.accept(referral, clinician)
    db.session.commit()
    login(client, clinician)
    client.get("/language/en")
    page = client.get("/")
    assert 'placeholder="Case number"' in page.text  # no name search offered
    response = client.get("/people/find", query_string={"q": world["zhang_li"].case_number})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/people/{world['zhang_li'].id}")
    for query in ("张丽", "zhang li", "zl", ID_NUMBER):
        response = client.get("/people/find", query_string={"q": query})
        assert response.status_code == 200
        assert f"/people/{world['zhang_li'].id}" not in response.text
        assert "Type a whole case number" in response.text
    # Not referred: answered as a number that does not exist.
    assert client.get("/people/find", query_string={"q": world["wang_li"].case_number}).status_code == 404
    assert client.get("/people/", query_string={"q": "张丽"}).status_code == 403


def test_name_hidden_where_identity_is_not_readable(client, world, orgs, make_user):
    """Police read identity only on an accepted referral: a pending one lists the case number,
    never the name, and a name or ID number search does not find her (it would confirm the name)."""
    caseworker = make_user("caseworker", orgs["shelter_a"])
    officer = make_user("police", orgs["police"])
    accepted = referrals.refer(world["zhang_li_strength"], orgs["police"], "请采集DNA", caseworker)
    referrals.accept(accepted, officer)
    referrals.refer(world["zhang_li"], orgs["police"], "请采集DNA", caseworker)  # pending
    db.session.commit()
    login(client, officer)
    page = client.get("/people/").text
    rows = {number: name for number, name, _match in ROW.findall(page)}
    assert rows == {world["zhang_li_strength"].case_number: "张力", world["zhang_li"].case_number: "—"}
    assert "张丽" not in page
    assert results(client, world, q="zhang li") == [("zhang_li_strength", "sound")]
    assert results(client, world, q="张丽") == [("zhang_li_strength", "sound")]
    assert results(client, world, q=ID_NUMBER) == []
    page = client.get("/people/", query_string={"q": world["zhang_li"].case_number}).text
    assert ROW.findall(page) == [(world["zhang_li"].case_number, "—", "number")] and "张丽" not in page


def test_identity_filters_reach_only_people_whose_identity_may_be_read(client, world, orgs, make_user):
    """A pending referral shows the police the summary only: filtering on origin, birth year, identity
    status or rescue date must not tell them what the summary hides, one request per guess."""
    caseworker = make_user("caseworker", orgs["shelter_a"])
    officer = make_user("police", orgs["police"])
    pending = world["zhang_li"]
    referrals.refer(pending, orgs["police"], "请采集DNA", caseworker)
    db.session.commit()
    login(client, officer)
    assert keys(results(client, world)) == ["zhang_li"]  # listed, as the summary allows
    guesses = [{"origin_code": pending.origin_code}, {"origin_province": pending.origin_code[:2] + "0000"},
               {"birth_year": str(pending.birth_year)}, {"identity_status": pending.identity_status},
               {"rescued_from": "2000-01-01"}]
    for guess in guesses:
        assert results(client, world, **guess) == [], guess
    page = client.get("/people/").text
    [row] = re.findall(r"<tr>\s*<td><a[^>]*>" + re.escape(pending.case_number) + r".*?</tr>", page, re.S)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    assert cells[1] == "—" and cells[4:6] == ["—", "—"], cells  # name, identity status, rescue date


def test_a_huge_organisation_id_is_a_message_not_an_error(client, world, caseworker):
    response = client.get("/people/", query_string={"organisation_id": "9" * 30})
    assert response.status_code == 200
    assert re.search(r'id="organisation_id-error"[^>]*role="alert"', response.text)


# -- filters ---------------------------------------------------------------------------------------------
def test_each_filter_alone_narrows_the_caseload(client, world, caseworker):
    shelter_b = world["zhang_li_b"].organisation_id
    visible = ["li_mei_alias", "wang_li", "zhang_li_strength", "zhang_li_b", "zhang_li_jasmine", "zhang_li"]
    assert keys(results(client, world)) == visible
    assert keys(results(client, world, sex="male")) == ["zhang_li_strength"]
    assert keys(results(client, world, birth_year="2008")) == ["zhang_li_jasmine"]
    assert keys(results(client, world, age_band="35-59")) == ["zhang_li_strength"]
    assert keys(results(client, world, age_band="18-34")) == ["zhang_li_jasmine"]
    assert keys(results(client, world, organisation_id=str(shelter_b))) == ["zhang_li_b"]
    # Place of origin: a province takes its 2-digit prefix, a city 4 digits, a county itself.
    assert keys(results(client, world, origin_province="320000")) == ["li_mei_alias", "wang_li",
                                                                       "zhang_li_jasmine", "zhang_li"]
    assert keys(results(client, world, origin_province="320000", origin_city="320100")) == \
        ["li_mei_alias", "wang_li", "zhang_li_jasmine", "zhang_li"]
    assert keys(results(client, world, origin_province="320000", origin_city="320100",
                        origin_county="320104")) == ["zhang_li_jasmine"]
    assert keys(results(client, world, origin_province="330000")) == ["zhang_li_b"]
    # A Beijing district sits directly under the province (second list): the code itself.
    assert keys(results(client, world, origin_province="110000", origin_city="110101")) == ["zhang_li_strength"]
    assert keys(results(client, world, origin_code="320102")) == ["li_mei_alias", "wang_li", "zhang_li"]
    world["wang_li"].status = "closed"
    db.session.commit()
    assert keys(results(client, world, status="closed")) == ["wang_li"]
    assert "wang_li" not in keys(results(client, world, status="open"))


def test_the_place_lists_work_without_javascript(client, world, caseworker):
    """The picker's "choose" button submits the filter form: the next list comes back filled, and a
    city left from an earlier province is dropped rather than refused."""
    page = client.get("/people/", query_string={"origin_province": "320000", "origin_choose": "province"}).text
    assert '<option value="320100">南京市</option>' in page
    found = results(client, world, origin_province="330000", origin_city="320100", origin_choose="province")
    assert keys(found) == ["zhang_li_b"]
    page = client.get("/people/", query_string={"origin_province": "330000", "origin_city": "320100",
                                                "origin_choose": "province"}).text
    assert 'role="alert"' not in page and '<option value="330100">杭州市</option>' in page


def test_filters_combine_with_a_search(client, world, caseworker):
    assert keys(results(client, world, q="zhang li", sex="male")) == ["zhang_li_strength"]
    assert keys(results(client, world, q="张丽", origin_code="320102")) == ["li_mei_alias", "zhang_li"]
    assert results(client, world, q="zl", origin_province="320000", origin_city="320100") == \
        [("li_mei_alias", "initials"), ("zhang_li_jasmine", "initials"), ("zhang_li", "initials")]
    assert keys(results(client, world, q="张丽", birth_year="2008")) == ["zhang_li_jasmine"]
    assert keys(results(client, world, q="zhang li", organisation_id=str(world["zhang_li_b"].organisation_id),
                        age_band="16-17")) == ["zhang_li_b"]
    assert results(client, world, q="王丽", sex="male") == []


def test_results_are_paged_with_the_best_matches_on_the_first_page(client, world, caseworker, app):
    app.config["PAGE_SIZE"] = 2
    first = client.get("/people/", query_string={"q": "张丽"}).text
    assert [m for _n, _name, m in ROW.findall(first)] == ["exact", "exact"]
    assert "5" in re.search(r'<p class="count">([^<]+)</p>', first).group(1)
    third = results(client, world, q="张丽", page="3")
    assert third == [("zhang_li_jasmine", "sound")]


@pytest.mark.parametrize("params, field", [
    ({"birth_year": "abc"}, "birth_year"), ({"birth_year": "1800"}, "birth_year"),
    ({"birth_year": str(dt.date.today().year + 1)}, "birth_year"), ({"birth_year": "9" * 400}, "birth_year"),
    ({"origin_province": "999999"}, "origin_province"), ({"origin_code": "12ab"}, "origin_code"),
    ({"origin_province": "320000", "origin_city": "330100"}, "origin_city"),
    ({"origin_city": "320100"}, "origin_city"),
])
def test_bad_filter_values_get_a_message_at_the_field(client, world, caseworker, params, field):
    response = client.get("/people/", query_string={"q": "张丽", **params})
    assert response.status_code == 200
    assert re.search(rf'id="{field}-error"[^>]*role="alert"', response.text), response.text[-3000:]
    assert ROW.findall(response.text) == []  # nothing listed for a filter that was not understood


# -- audit -----------------------------------------------------------------------------------------------
QUERIES = {"张丽": "name", "zhang li": "pinyin", "Zhāng Lì": "pinyin", "zl": "initials", "張麗": "name",
           ID_NUMBER.lower(): "id_number"}


def test_searches_are_audited_by_kind_and_count_without_the_text(client, world, caseworker):
    typed = {**QUERIES, world["zhang_li"].case_number: "case_number"}
    for query in typed:
        client.get("/people/", query_string={"q": query, "sex": "female"})
    rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "search").order_by(AuditEvent.seq)).all()
    details = [json.loads(row.details) for row in rows]
    assert [(d["query_kind"], d["results"]) for d in details] == [
        ("name", 4), ("pinyin", 4), ("pinyin", 4), ("initials", 4), ("name", 4), ("id_number", 1), ("case_number", 1)]
    assert all(d["sex"] == "female" and "q" not in d for d in details)
    stored = " ".join(row.details for row in db.session.scalars(select(AuditEvent))
                      if row.action in ("search", "list"))
    forms = {"张丽", "張麗", "zhang", "zhangli", "Zhāng", "zl", ID_NUMBER, ID_NUMBER.lower(), ID_NUMBER[:14],
             world["zhang_li"].case_number}
    for form in forms:
        for written in (form, json.dumps(form)[1:-1], html.escape(form)):
            assert written.lower() not in stored.lower(), form


def test_quick_search_placeholder_says_what_can_be_typed(client, world, caseworker):
    client.get("/language/en")
    page = client.get("/").text
    assert 'placeholder="Case number, ID number, name, pinyin or initials"' in page


def test_classify_query_kinds():
    assert service.classify_query("320100-2026-00001") == "case_number"
    assert service.classify_query(ID_NUMBER.lower()) == "id_number"
    assert service.classify_query("章莉") == "name"
    assert service.classify_query("zhang li") == "pinyin"
    assert service.classify_query("Zhāng Lì") == "pinyin"
    assert service.classify_query("zl") == "initials"
    assert service.classify_query("A2025-1") == "other"
