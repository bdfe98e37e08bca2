"""Names found by sound (issue 8): homophones, pinyin with or without spaces and tones, initials,
polyphonic and compound surnames, traditional characters, all through keyed blind indexes only."""
from __future__ import annotations

import datetime as dt
import os
import pathlib
import re
import time

import pytest
from sqlalchemy import select, union_all

from victimcare.extensions import db
from victimcare.names import RANKS, matching_ids, ranked_matches
from victimcare.names.models import NameSoundKey
from victimcare.names.sound import MAX_READINGS, query_keys, sound_keys, split_word
from victimcare.people import service
from victimcare.people.models import Person

from .conftest import post_form
# The handover fixtures: two installations that trust each other, and a file with a history.
from .test_portability import _b_import, _export, here, linked, rich_person, there  # noqa: F401

EXACT, SOUND, INITIALS = RANKS["exact"], RANKS["full"], RANKS["initials"]
assert RANKS["family"] == SOUND


# -- the keys themselves (no database) -------------------------------------------------------------
@pytest.mark.parametrize("name", ["张丽", "章莉", "张莉", "張麗", "zhang li", "zhangli", "Zhāng Lì", "ZHANG LI",
                                  "ZhangLi", "zhang-li", "Zhang·Li"])
def test_homophones_share_the_whole_name_key(name):
    assert "zhangli" in sound_keys(name)["full"]
    assert "zhang" in sound_keys(name)["family"]
    assert "zl" in sound_keys(name)["initials"]


@pytest.mark.parametrize("name, family, full", [
    ("单丽", "shan", "shanli"), ("单丽", "dan", "danli"),      # every reading, the surname one first
    ("曾静", "zeng", "zengjing"), ("曾静", "ceng", "cengjing"),
    ("解晓", "xie", "xiexiao"), ("仇芳", "qiu", "qiufang"), ("区华", "ou", "ouhua"),
    ("欧阳娜", "ouyang", "ouyangna"), ("歐陽娜", "ouyang", "ouyangna"), ("司马光", "sima", "simaguang"),
    ("诸葛亮", "zhuge", "zhugeliang"), ("万俟卨", "moqi", "moqixie"), ("黑妞", "he", "heniu"),
])
def test_polyphonic_and_compound_surnames_read_as_surnames(name, family, full):
    keys = sound_keys(name)
    assert family in keys["family"] and full in keys["full"]


def test_the_surname_reading_comes_first_under_the_cap():
    name = "单" + "和" * 6  # 和 has several readings: far more combinations than the cap
    keys = sound_keys(name)
    assert len(keys["full"]) == MAX_READINGS
    assert "shan" + "he" * 6 in keys["full"]


def test_a_compound_surname_is_one_family_name():
    assert sound_keys("欧阳娜")["family"] == {"ouyang"}
    assert sound_keys("欧阳娜")["initials"] == {"oyn"}


def test_an_unknown_character_stands_for_itself():
    assert sound_keys("𠮷") == {"full": {"𠮷"}, "family": {"𠮷"}, "initials": {"𠮷"}}
    assert sound_keys("𠮷野")["full"] >= {"𠮷ye"}


def test_unspaced_pinyin_is_split_with_the_syllable_table():
    assert split_word("zhangli") == (("zhang", "li"),)
    assert set(split_word("xian")) == {("xian",), ("xi", "an")}  # 先 or 西安: both kept
    assert sound_keys("xian")["family"] == {"xian", "xi"}


@pytest.mark.parametrize("entry, initials", [("zl", {"zl"}), ("Z.L.", {"zl"}), ("ZL", {"zl"}),
                                             ("li", set()), ("an", set()), ("zhang", set()), ("张丽", set())])
def test_only_a_short_latin_entry_that_is_not_pinyin_is_read_as_initials(entry, initials):
    assert query_keys(entry)["initials"] == initials


# -- search through the stored indexes ----------------------------------------------------------------
def found(q: str) -> dict[str, int]:
    ranked = ranked_matches(q)
    return dict(db.session.execute(select(ranked.c.person_id, ranked.c.rank)).all())


@pytest.fixture
def people(orgs, make_person):
    a = orgs["shelter_a"]
    names = {"zhang_li": "张丽", "zhang_li_2": "章莉", "zhang_li_3": "张莉", "wang_li": "王丽",
             "zhou_lin": "周林", "shan": "单丽", "zeng": "曾静", "xie": "解晓", "qiu": "仇芳",
             "ouyang": "欧阳娜", "jiang": "江丽"}
    return {key: make_person(a, name=name).id for key, name in names.items()}


def named(people, **ranks) -> dict[str, int]:
    return {people[key]: rank for key, rank in ranks.items()}


SEARCHES = [
    ("张丽", {"zhang_li": EXACT, "zhang_li_2": SOUND, "zhang_li_3": SOUND}),
    ("章莉", {"zhang_li_2": EXACT, "zhang_li": SOUND, "zhang_li_3": SOUND}),
    ("張麗", {"zhang_li": SOUND, "zhang_li_2": SOUND, "zhang_li_3": SOUND}),   # traditional input
    ("zhang li", {"zhang_li": SOUND, "zhang_li_2": SOUND, "zhang_li_3": SOUND}),
    ("zhangli", {"zhang_li": SOUND, "zhang_li_2": SOUND, "zhang_li_3": SOUND}),
    ("Zhāng Lì", {"zhang_li": SOUND, "zhang_li_2": SOUND, "zhang_li_3": SOUND}),
    ("ZHANG LI", {"zhang_li": SOUND, "zhang_li_2": SOUND, "zhang_li_3": SOUND}),
    ("zl", {"zhang_li": INITIALS, "zhang_li_2": INITIALS, "zhang_li_3": INITIALS, "zhou_lin": INITIALS}),
    ("zhang", {"zhang_li": SOUND, "zhang_li_2": SOUND, "zhang_li_3": SOUND}),   # family name only
    ("张", {"zhang_li": SOUND, "zhang_li_2": SOUND, "zhang_li_3": SOUND}),
    ("王丽", {"wang_li": EXACT}), ("wang li", {"wang_li": SOUND}),
    ("shan li", {"shan": SOUND}), ("dan li", {"shan": SOUND}), ("单", {"shan": SOUND}),
    ("zeng jing", {"zeng": SOUND}), ("ceng jing", {"zeng": SOUND}),
    ("xie xiao", {"xie": SOUND}), ("qiu fang", {"qiu": SOUND}),
    ("ouyang na", {"ouyang": SOUND}), ("ōuyáng nà", {"ouyang": SOUND}), ("欧阳", {"ouyang": SOUND}),
    ("歐陽娜", {"ouyang": SOUND}), ("ou", {}),                       # 欧阳 is one family name
    ("jiang li", {"jiang": SOUND}), ("zhang lin", {}), ("zhou li", {}), ("li", {}), ("林小燕", {}),
]


def test_search_finds_exactly_these(app, people):
    """One set of people for every entry (registering them is the slow part); each entry's exact
    result set and ranks."""
    back = {person_id: key for key, person_id in people.items()}
    wrong = {}
    for q, expected in SEARCHES:
        got = {back[person_id]: rank for person_id, rank in found(q).items()}
        if got != expected:
            wrong[q] = (got, expected)
    assert wrong == {}


def test_the_caseload_search_gains_sound_matches_within_scope_only(app, orgs, people, make_person, make_user):
    outside = make_person(orgs["other_shelter"], name="张丽").id
    manager = make_user("manager", orgs["bureau"])
    ids = set(db.session.scalars(service.caseload_query(manager, {"q": "zhang li"}).with_only_columns(Person.id)))
    assert ids == {people["zhang_li"], people["zhang_li_2"], people["zhang_li_3"]}
    assert outside not in ids
    other = make_user("manager", orgs["other_bureau"])
    assert set(db.session.scalars(service.caseload_query(other, {"q": "章莉"}).with_only_columns(Person.id))) \
        == {outside}


def test_keys_follow_a_changed_name_and_aliases(app, orgs, make_person, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    person = make_person(orgs["shelter_a"], by=user, name="张丽", aliases="小燕")
    assert found("xiao yan") == {person.id: SOUND}
    service.update_identity(person, {"name": "王芳", "aliases": "阿梅"}, user, person.version)
    db.session.commit()
    assert found("zhang li") == {} and found("zl") == {} and found("xiao yan") == {}
    assert found("wang fang") == {person.id: SOUND} and found("a mei") == {person.id: SOUND}
    assert found("王芳") == {person.id: EXACT}
    service.update_identity(person, {"aliases": ""}, user, person.version)
    db.session.commit()
    assert found("a mei") == {}
    assert {k.alias_id for k in db.session.scalars(select(NameSoundKey))} == {None}


def test_an_unknown_character_round_trips_through_form_storage_and_search(client, orgs, logged_in):
    logged_in("caseworker", orgs["shelter_a"])
    response = post_form(client, "/people/new", {
        "organisation_id": str(orgs["shelter_a"].id), "name": "𠮷野", "aliases": "𠮷", "sex": "female",
        "date_of_birth": "2011-02-03", "estimated_age": "", "id_number": "", "nationality": "CHN",
        "origin_code": "", "origin_address": "", "contact": "", "rescue_date": "2026-03-02",
        "rescue_place": "", "rescuing_agency": "", "police_case_number": "",
        "identity_status": "unidentified", "identified_method": "", "identified_on": "",
        "tracing_result": "not_started", "tracing_notes": "", "notes": ""})
    assert response.status_code == 302, re.findall(r'class="error[^"]*"[^>]*>([^<]*)', response.text)
    person_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    db.session.remove()
    person = db.session.get(Person, person_id)
    assert (person.name, person.alias_names) == ("𠮷野", ["𠮷"])
    assert found("𠮷野") == {person_id: EXACT} and found("𠮷") == {person_id: EXACT}
    assert found("𠮷 ye") == {person_id: SOUND}
    page = client.get(f"/people/{person_id}")
    assert "𠮷野" in page.text
    listing = client.get("/people/", query_string={"q": "𠮷野"})
    assert f'href="/people/{person_id}"' in listing.text


def test_no_name_or_pinyin_is_stored_anywhere(app, orgs, make_person):
    names = ["张丽", "章莉", "欧阳娜", "单雄信", "𠮷野"]
    for name in names:
        make_person(orgs["shelter_a"], name=name, aliases=name[::-1])
    secrets = set()
    for name in (*names, *(n[::-1] for n in names)):
        keys = sound_keys(name)
        secrets.add(name)
        # Pinyin of six letters or more: a shorter one could occur by chance in base64 ciphertext.
        secrets |= {k for kind in ("full", "family") for k in keys[kind] if not k.isascii() or len(k) >= 6}
    assert {"zhangli", "ouyangna", "shanxiongxin", "ouyang", "𠮷ye"} <= secrets
    stored = [bidx for (bidx,) in db.session.execute(select(NameSoundKey.bidx))]
    assert stored and all(re.fullmatch(r"[0-9a-f]{32}", b) for b in stored)
    if db.engine.dialect.name != "sqlite":
        return  # the column check above; the file bytes on SQLite
    db.session.remove()
    path = db.engine.url.database
    raw = b"".join(pathlib.Path(p).read_bytes() for p in (path, path + "-wal", path + "-journal")
                   if os.path.exists(p))
    assert "甲救助站".encode() in raw  # the check works: a plaintext organisation name is found
    leaked = sorted(s for s in secrets if s.encode("utf-8") in raw or s.upper().encode("utf-8") in raw)
    assert leaked == []


def test_key_generation_speed(app):
    """Not a benchmark: a floor, so a slow change shows up. Prints names per second."""
    sample = ["张丽", "章莉", "欧阳娜", "单雄信", "阿依古丽·买买提", "Zhang Li", "王秀英", "曾国藩"] * 50
    sound_keys("warm up: the syllable table and pypinyin's dictionaries load once")
    start = time.perf_counter()
    for name in sample:
        sound_keys(name + "x")  # not cached by name
    rate = len(sample) / (time.perf_counter() - start)
    print(f"sound keys: {rate:.0f} names per second")
    assert rate > 1000


def test_register_then_birthday_only_change_keeps_the_keys(app, orgs, make_person, make_user):
    user = make_user("caseworker", orgs["shelter_a"])
    person = make_person(orgs["shelter_a"], by=user, name="张丽")
    before = sorted(db.session.scalars(select(NameSoundKey.bidx)))
    service.update_identity(person, {"date_of_birth": dt.date(2011, 1, 1)}, user, person.version)
    db.session.commit()
    assert sorted(db.session.scalars(select(NameSoundKey.bidx))) == before


def test_odd_entries_are_answered(app, people):
    for q in ("··", "   ", "\x00", "单" * 100, "a" * 500, "'; DROP TABLE person; --", "😀", "ǚ", "ＺＨＡＮＧ　ＬＩ"):
        result = found(q)
        branches = matching_ids(q)  # what the caseload search puts in its IN (...): the same people
        assert set(result) == (set(db.session.scalars(union_all(*branches))) if branches else set()), q
        assert result == ({} if q != "ＺＨＡＮＧ　ＬＩ" else  # full-width letters and space (NFKC)
                          named(people, zhang_li=SOUND, zhang_li_2=SOUND, zhang_li_3=SOUND)), q


def test_a_lone_surrogate_has_no_sound():
    assert sound_keys("\ud800") == {"full": set(), "family": set(), "initials": set()}


def test_a_handed_over_file_is_found_by_sound_at_the_receiving_installation(client, orgs, logged_in,
                                                                             rich_person, linked):
    logged_in("manager", orgs["bureau"])
    response = _export(client, rich_person, linked.public.fingerprint)
    assert _b_import(linked, response.data).status_code == 302
    with linked.ctx():
        person_id = db.session.scalar(select(Person.id))
        # under the receiving installation's own blind-index key
        assert found("li xiao hong") == {person_id: SOUND} and found("小红") == {person_id: EXACT}
        assert found("a hong") == {}  # the alias removed before the handover stays removed
        db.session.remove()


def test_same_sound_ids_for_the_duplicate_check(app, people):
    from victimcare.names import same_sound_ids
    back = {person_id: key for key, person_id in people.items()}
    assert {back[i] for i in db.session.scalars(same_sound_ids(["張麗"]))} == {"zhang_li", "zhang_li_2", "zhang_li_3"}
    assert {back[i] for i in db.session.scalars(same_sound_ids(["zhang", "曾静"]))} == {"zeng"}  # no family match
    assert same_sound_ids(["", None]) is None
