"""Who reaches which person and section: the policy table, scope, and the pages that ask it."""
import pytest
from sqlalchemy import select

from victimcare import access
from victimcare.audit import AuditEvent
from victimcare.extensions import db
from victimcare.people.models import Person

from .conftest import csrf_from, post_form
from .test_people import listed

SECTIONS = access.SECTIONS
# The policy written out by hand: a change to access.POLICY must change this table too.
#            summary identity dna placement residence medical legal schooling employment followups referrals disclosures attachments case audit admin
EXPECTED = {
    "caseworker": "r rw - rw rw - r r r rw rw rw rw r - -",
    "manager":    "r r r r r r r r r r r rw r rw - -",
    "clinician":  "r - - - - rw - - - - - - - - - -",
    "police":     "r r rw - rw - - - - - - - - - - -",
    "education":  "r - - - - - - rw - - - - - - - -",
    "employment": "r - - - - - - - rw - - - - - - -",
    "legal_aid":  "r - - - - - rw - - - - - - - - -",
    "auditor":    "- - - - - - - - - - - - - - r -",
    "admin":      "- - - - - - - - - - - - - - - rw",
}
HOME = {"caseworker": "shelter_a", "manager": "bureau", "clinician": "hospital", "police": "police",
        "education": "bureau", "employment": "bureau", "legal_aid": "bureau", "auditor": "supervision",
        "admin": "bureau"}
REFERRAL_ROLES = ("clinician", "police", "education", "employment", "legal_aid")


def expected(role, action, section):
    rights = dict(zip(SECTIONS, EXPECTED[role].split()))[section]
    return {"read": "r", "write": "w"}[action] in rights


def test_table_covers_every_role_and_section():
    assert set(EXPECTED) == set(access.ROLES) == set(access.POLICY) == set(access.SCOPE)
    assert all(len(row.split()) == len(SECTIONS) for row in EXPECTED.values())
    assert {s for rights in access.POLICY.values() for s in rights} <= set(SECTIONS)


@pytest.fixture
def users(orgs, make_user):
    return {role: make_user(role, orgs[HOME[role]]) for role in access.ROLES}


@pytest.fixture
def person_a(orgs, make_person):
    return make_person(orgs["shelter_a"], name="甲站的人")


@pytest.fixture
def person_b(orgs, make_person):
    return make_person(orgs["shelter_b"], name="乙站的人")


def test_can_matrix(users, person_a):
    for role, user in users.items():
        for section in SECTIONS:
            for action in ("read", "write"):
                allowed = expected(role, action, section)
                assert access.can(user, action, None, section) is allowed, (role, action, section)
                # With a person: only subtree roles reach her (referrals come later).
                reaches = role in ("caseworker", "manager")
                assert access.can(user, action, person_a, section) is (allowed and reaches), \
                    (role, action, section)


def test_scope_is_the_organisation_subtree(orgs, make_user, person_a, person_b, make_person):
    other = make_person(orgs["other_shelter"], name="他市的人")
    cases = {
        make_user("caseworker", orgs["shelter_a"]): {person_a},
        make_user("caseworker", orgs["shelter_b"]): {person_b},
        make_user("caseworker", orgs["bureau"]): {person_a, person_b},
        make_user("manager", orgs["bureau"]): {person_a, person_b},
        make_user("caseworker", orgs["other_bureau"]): {other},
        make_user("manager", orgs["other_shelter"]): {other},
        make_user("caseworker", orgs["hospital"]): set(),
    }
    everyone = {person_a, person_b, other}
    for user, reachable in cases.items():
        assert {p for p in everyone if access.can(user, "read", p)} == reachable
        assert set(db.session.scalars(access.scoped_people(user)).unique().all()) == reachable


def test_inactive_or_anonymous_user_can_do_nothing(users, person_a):
    from flask_login import AnonymousUserMixin
    assert not access.can(None, "read", person_a)
    assert not access.can(AnonymousUserMixin(), "read", None)
    users["caseworker"].active = False
    assert not access.can(users["caseworker"], "read", person_a)
    assert not access.can(users["caseworker"], "read", None)


# -- through the pages -------------------------------------------------------------
def denials(person=None):
    query = select(AuditEvent).where(AuditEvent.action == "denied")
    if person is not None:
        query = query.where(AuditEvent.object_id == person.id)
    return db.session.scalars(query).all()


def test_other_shelter_is_hidden_and_audited(client, orgs, logged_in, person_a, person_b):
    user = logged_in("caseworker", orgs["shelter_a"])
    for url in (f"/people/{person_b.id}", f"/people/{person_b.id}/edit", f"/people/{person_b.id}/history"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "乙站的人" not in response.text
    rows = denials(person_b)
    assert len(rows) == 3
    assert all(r.user_id == user.id and r.details_dict["status"] == 404 for r in rows)
    # A page the role never uses (caseworkers: DNA) is refused before the person is looked up: the
    # same 403 for every id, so it tells nothing about who exists.
    response = client.get(f"/people/{person_b.id}/dna")
    assert response.status_code == 403 and "乙站的人" not in response.text
    assert len(denials(person_b)) == 4 and denials()[-1].details_dict == {"action": "read", "status": 403,
                                                                         "route": True}
    listing = client.get("/people/")
    assert listed(person_a, listing.text) and not listed(person_b, listing.text)
    for q in ("乙站的人", person_b.case_number):
        text = client.get("/people/", query_string={"q": q}).text
        assert not listed(person_b, text)
    # And a POST cannot change her.
    page = client.get(f"/people/{person_a.id}/edit")
    response = client.post(f"/people/{person_b.id}/edit", data={"csrf_token": csrf_from(page.text),
                                                              "name": "改", "version": "1"})
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Person, person_b.id).name == "乙站的人"


@pytest.mark.parametrize("role", ["caseworker", "manager"])
def test_bureau_staff_see_both_shelters(client, orgs, logged_in, person_a, person_b, make_person, role):
    other = make_person(orgs["other_shelter"], name="他市的人")
    logged_in(role, orgs["bureau"])
    listing = client.get("/people/").text
    assert listed(person_a, listing) and listed(person_b, listing)
    assert not listed(other, listing)
    for person in (person_a, person_b):
        assert client.get(f"/people/{person.id}").status_code == 200
    assert client.get(f"/people/{other.id}").status_code == 404


def test_other_bureau_sees_none(client, orgs, logged_in, person_a, person_b):
    logged_in("caseworker", orgs["other_bureau"])
    for params in ({}, {"q": "甲站的人"}, {"q": person_b.case_number}, {"organisation_id": orgs["shelter_a"].id}):
        text = client.get("/people/", query_string=params).text
        assert not listed(person_a, text) and not listed(person_b, text)
    assert client.get(f"/people/{person_a.id}").status_code == 404


def test_unknown_person_is_404(client, orgs, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    assert client.get("/people/0123456789abcdef0123456789abcdef").status_code == 404
    assert client.get("/people/" + "a" * 40).status_code == 404


@pytest.mark.parametrize("role", REFERRAL_ROLES + ("auditor", "admin"))
def test_other_roles_reach_no_person(client, orgs, logged_in, person_a, role):
    logged_in(role, orgs[HOME[role]])
    for url in (f"/people/{person_a.id}", f"/people/{person_a.id}/history", f"/people/{person_a.id}/dna",
                f"/people/{person_a.id}/edit"):
        response = client.get(url)
        assert response.status_code in (403, 404), url
        assert "甲站的人" not in response.text
    # Partners are asked about the person (not referred: 404); auditors and administrators may not open
    # a file at all (403 for any id, before it is looked up).
    assert client.get(f"/people/{person_a.id}").status_code == (404 if role in REFERRAL_ROLES else 403)
    assert client.get("/people/new").status_code == 403
    listing = client.get("/people/")
    if role == "police":
        # Police read the identity of people referred to them: the list is open but holds no one yet.
        assert listing.status_code == 200 and not listed(person_a, listing.text)
    else:
        assert listing.status_code == 403
    assert len(denials(person_a)) == 5


def test_roles_without_identity_write_cannot_register(client, orgs, logged_in):
    logged_in("manager", orgs["bureau"])
    assert client.get("/people/new").status_code == 403
    response = post_form(client, "/people/new", {"name": "x", "sex": "female", "estimated_age": "9",
                                                 "identity_status": "unidentified",
                                                 "tracing_result": "not_started",
                                                 "organisation_id": str(orgs["shelter_a"].id)},
                         page_url="/people/")
    assert response.status_code == 403
    assert db.session.scalars(select(Person)).all() == []


def test_manager_reads_but_cannot_edit_identity(client, orgs, logged_in, person_a):
    logged_in("manager", orgs["bureau"])
    assert client.get(f"/people/{person_a.id}").status_code == 200
    assert client.get(f"/people/{person_a.id}/edit").status_code == 403
    response = post_form(client, f"/people/{person_a.id}/edit", {"name": "改", "version": "1"},
                         page_url=f"/people/{person_a.id}")
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Person, person_a.id).name == "甲站的人"
    assert [r.details_dict["status"] for r in denials(person_a)] == [403, 403]


# -- the DNA section ---------------------------------------------------------------
def test_caseworker_cannot_see_dna(client, orgs, logged_in, person_a):
    logged_in("caseworker", orgs["shelter_a"])
    assert client.get(f"/people/{person_a.id}/dna").status_code == 403
    rows = denials(person_a)
    assert len(rows) == 1 and rows[0].section == "dna" and rows[0].details_dict["status"] == 403


def test_manager_reads_dna_but_cannot_write(client, orgs, logged_in, make_person):
    person = make_person(orgs["shelter_a"])
    person.dna_sample_taken, person.dna_reference = True, "DNA-2026-123456"
    db.session.commit()
    logged_in("manager", orgs["bureau"])
    page = client.get(f"/people/{person.id}/dna")
    assert page.status_code == 200 and "DNA-2026-123456" in page.text
    response = client.post(f"/people/{person.id}/dna",
                           data={"csrf_token": csrf_from(page.text), "dna_sample_taken": "y",
                                 "dna_reference": "DNA-FAKE", "version": str(person.version)})
    assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(Person, person.id).dna_reference == "DNA-2026-123456"
    assert [r.section for r in denials(person)] == ["dna"]


def test_police_reach_nobody_before_referrals(client, orgs, logged_in, person_a):
    logged_in("police", orgs["police"])
    assert client.get(f"/people/{person_a.id}/dna").status_code == 404
    page = client.get("/people/")
    response = client.post(f"/people/{person_a.id}/dna",
                           data={"csrf_token": csrf_from(page.text), "dna_sample_taken": "y", "version": "1"})
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(Person, person_a.id).dna_sample_taken is False
