"""The file page's shortcuts give the answers of the long way: access.rights is access.can asked once,
a section whose tables have no row for the person shows what its loader would have shown without
asking for them, and the per-page translations and can() are those of the page's locale and user."""
from __future__ import annotations

import datetime as dt
import itertools

import pytest
from flask_login import AnonymousUserMixin
from sqlalchemy import event, func, select

from victimcare import access, sections
from victimcare.extensions import db
from victimcare.people.models import PersonAlias

from .conftest import login
from .route_matrix_support import build_world


def test_rights_are_exactly_can_for_every_role_section_and_relation(app):
    """Every role (and a deactivated user, and nobody signed in) against people of their own
    organisation, of another bureau, and referred to the partners: active, pending and closed."""
    world = build_world()
    users = dict(world.users)
    users["deactivated"] = _deactivated(world.users["caseworker"])
    users["anonymous"] = AnonymousUserMixin()
    checked = 0
    for (name, user), (relation, person) in itertools.product(users.items(), world.people.items()):
        rights = access.rights(user, person)
        for section, action in itertools.product(access.SECTIONS, ("read", "write")):
            assert rights.can(action, section) is access.can(user, action, person, section), \
                (name, relation, section, action)
            checked += 1
        assert set(rights) == {(a, s) for a, s in rights if access.can(user, a, person, s)}
    assert checked == len(users) * len(world.people) * len(access.SECTIONS) * 2
    # The table is not trivially empty or full: partners see the summary of a pending referral only.
    assert access.rights(world.users["clinician"], world.people["pending"]) == {("read", "summary")}
    assert access.rights(world.users["clinician"], world.people["active"]) == {
        ("read", "summary"), ("read", "medical"), ("write", "medical")}
    assert access.rights(world.users["clinician"], world.people["closed"]) == set()
    assert ("write", "identity") in access.rights(world.users["caseworker"], world.people["own"])
    assert access.rights(users["deactivated"], world.people["own"]) == set()


def _deactivated(colleague):
    """A caseworker of the same shelter as ``colleague``, deactivated."""
    from victimcare.auth.service import create_user
    user = create_user("deactivated_caseworker", "gone", "caseworker", colleague.organisation, "x" * 16)
    user.active = False
    db.session.commit()
    return user


@pytest.fixture
def caseworker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def manager(orgs, make_user):
    return make_user("manager", orgs["bureau"])


def test_an_empty_section_shows_what_its_loader_would_show(app, orgs, make_person):
    """For a file with no rows in any section's tables, each section's ``empty`` equals its loader."""
    person = make_person(orgs["shelter_a"])
    with_empty = [s for s in sections.file_sections() if s.rows_in]
    assert {s.key for s in with_empty} >= {"attachments", "placement", "residence", "medical", "legal",
                                           "schooling", "employment", "referrals", "disclosures",
                                           "followups", "case"}
    for status in ("open", "closed"):
        person.status = status
        for section in with_empty:
            assert section.load(person) == section.empty(person), (section.key, status)


def test_the_probe_finds_the_rows_a_full_file_has(app):
    """The one query that decides which cards to load finds exactly the tables with rows for the person
    (compared with a count per table), for a file with rows everywhere and one with a few."""
    world = build_world()
    models = {m for s in sections.file_sections() for m in s.rows_in} | {PersonAlias}
    for person in world.people.values():
        counted = {m for m in models
                   if db.session.scalar(select(func.count()).select_from(m).where(m.person_id == person.id))}
        assert sections._tables_with_rows(person, models) == counted
    assert len(sections._tables_with_rows(world.people["active"], models)) >= 10


@pytest.fixture
def statements(app):
    seen = []

    def record(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split()))
    event.listen(db.engine, "before_cursor_execute", record)
    yield seen
    event.remove(db.engine, "before_cursor_execute", record)


def test_a_new_file_asks_no_section_table_beyond_the_one_probe(client, orgs, caseworker, make_person,
                                                                 statements):
    person = make_person(orgs["shelter_a"])
    login(client, caseworker)
    client.get("/language/en")
    statements.clear()
    page = client.get(f"/people/{person.id}")
    assert page.status_code == 200
    for shown in ("No placements recorded.", "No return recorded.", "No referrals.", "No photos or documents.",
                  "Nothing disclosed outside the organisation.", "No legal-aid applications."):
        assert shown in page.text
    probes = [s for s in statements if "WHERE EXISTS" in s]
    assert len(probes) == 1
    others = [s + " " for s in statements if s not in probes]
    for table in ("placement", "residence_application", "legal_aid", "school_enrolment", "employment_service",
                  "referral", "disclosure", "person_return", "case_status_change", "attachment", "person_alias"):
        assert f"FROM {table} " in probes[0]
        assert not [s for s in others if f"FROM {table} " in s], table


def test_cards_and_aliases_show_once_there_are_rows(client, orgs, caseworker, make_person):
    from victimcare.placements import service as placements
    person = make_person(orgs["shelter_a"], aliases="小红\n阿丽")
    placements.admit(person, {"placement_type": "temporary_assistance", "organisation_id": orgs["shelter_a"].id,
                              "institution_name": None, "household_relation": "none",
                              "admitted_on": dt.date.today() - dt.timedelta(days=3), "reason": "临时安置"},
                     caseworker)
    db.session.commit()
    login(client, caseworker)
    client.get("/language/en")
    page = client.get(f"/people/{person.id}").text
    assert "小红、阿丽" in page
    assert "No placements recorded." not in page and orgs["shelter_a"].name in page
    other = make_person(orgs["shelter_a"], name="没有别名")
    assert "<dt>Aliases and other names</dt><dd>—</dd>" in client.get(f"/people/{other.id}").text


def test_the_view_is_audited_with_every_section_shown(client, orgs, caseworker, manager, make_person):
    from victimcare.audit import AuditEvent
    person = make_person(orgs["shelter_a"])
    for user, expected in ((caseworker, ["identity", "attachments", "placement", "residence", "legal", "schooling",
                                         "employment", "referrals", "disclosures", "followups", "case"]),
                           (manager, ["identity", "attachments", "placement", "residence", "medical", "legal",
                                      "schooling", "employment", "referrals", "disclosures", "followups",
                                      "case"])):
        browser = client.application.test_client()
        login(browser, user)
        assert browser.get(f"/people/{person.id}").status_code == 200
        row = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "view")
                                 .order_by(AuditEvent.seq.desc())).first()
        assert (row.user_id, row.object_id, row.details_dict["sections"]) == (user.id, person.id, expected)


def test_page_translations_follow_the_language_and_printouts_stay_chinese(client, orgs, caseworker,
                                                                           make_person):
    from victimcare.reports.summary import summary_html
    person = make_person(orgs["shelter_a"])
    login(client, caseworker)
    # Translated with _() and (section titles, labels) lazily.
    chinese = client.get(f"/people/{person.id}").text
    assert "身份信息" in chinese and ">回归及回访<" in chinese and " · 在办" in chinese
    assert ">Identity<" not in chinese and "Return and follow-up" not in chinese
    client.get("/language/en")
    english = client.get(f"/people/{person.id}").text
    assert ">Identity<" in english and ">Return and follow-up<" in english and " · Open" in english
    assert "身份信息" not in english and "回归及回访" not in english
    with client.application.test_request_context(f"/people/{person.id}"):
        from flask import session
        from flask_login import login_user
        session["lang"] = "en"
        login_user(caseworker)
        html, _sections = summary_html(person, caseworker, variant="full", purpose="测试")
    assert "个案摘要" in html and "在办" in html and "Case summary" not in html and "Open" not in html


def test_header_tabs_on_a_section_page_follow_the_users_rights(client, orgs, caseworker, make_person, make_user):
    """Section pages include the file header without the file page's rights: it asks them itself."""
    person = make_person(orgs["shelter_a"])
    login(client, caseworker)
    client.get("/language/en")
    page = client.get(f"/people/{person.id}/placements").text
    assert f'href="/people/{person.id}/legal"' in page and f'href="/people/{person.id}/medical"' not in page
    assert "DNA sample" not in page
