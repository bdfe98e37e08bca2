"""Rare characters in names round-trip unchanged: form, storage, file page, search, PDF, handover.

𠮷 (U+20BB7, CJK Extension B, outside the Basic Multilingual Plane) is unknown to pypinyin and
stands for itself in the sound keys; 䶮 (U+4DAE, Extension A) is known to pypinyin (yan) and to Noto
CJK; 𪜀 (U+2A700, Extension C) is known to neither pypinyin nor any installed font. No CSV or XLSX
export carries a name (ledgers and statistics hold case numbers and counts only), so there is no
export to check beyond the PDF and the handover bundle.
"""
from __future__ import annotations

import io
import re

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from victimcare.extensions import db
from victimcare.names import ranked_matches
from victimcare.names.models import NameSoundKey
from victimcare.people.models import Person

from .conftest import csrf_from, post_form
from .test_portability import _b_import, _export, here, linked, there  # noqa: F401

NAME, ALIAS, OTHER = "𠮷野䶮", "𪜀妹", "䶮𪜀"
FORM = {"name": NAME, "aliases": f"{ALIAS}\n{OTHER}", "sex": "female", "date_of_birth": "2011-02-03",
        "estimated_age": "", "id_number": "", "nationality": "CHN", "origin_code": "", "origin_address": "",
        "contact": "", "rescue_date": "2026-03-02", "rescue_place": "", "rescuing_agency": "",
        "police_case_number": "", "identity_status": "unidentified", "identified_method": "",
        "identified_on": "", "tracing_result": "not_started", "tracing_notes": "", "notes": ""}


def _register(client, orgs, **values) -> str:
    response = post_form(client, "/people/new", {"organisation_id": str(orgs["shelter_a"].id), **FORM, **values})
    assert response.status_code == 302, re.findall(r'class="error[^"]*"[^>]*>([^<]*)', response.text)
    return response.headers["Location"].rstrip("/").rsplit("/", 1)[1]


@pytest.fixture
def registered(client, orgs, logged_in):
    """Registered through the form by a caseworker of shelter A, who stays logged in."""
    logged_in("caseworker", orgs["shelter_a"])
    person_id = _register(client, orgs)
    db.session.remove()
    return person_id


def listed(client, q: str) -> set[str]:
    page = client.get("/people/", query_string={"q": q})
    assert page.status_code == 200
    return set(re.findall(r'href="/people/([0-9a-f]{32})"', page.text))


def test_storage_and_file_page_keep_the_characters(client, registered):
    person = db.session.get(Person, registered)
    assert (person.name, person.alias_names) == (NAME, [ALIAS, OTHER])
    assert person.name_enc and NAME not in person.name_enc
    page = client.get(f"/people/{registered}").text
    assert NAME in page and ALIAS in page and OTHER in page
    edit = client.get(f"/people/{registered}/edit").text  # the form shows them to be saved again
    assert f'value="{NAME}"' in edit and ALIAS in edit and OTHER in edit


def test_search_finds_her_by_each_name_and_by_sound(client, registered):
    for q in (NAME, ALIAS, OTHER, "𠮷 ye yan", "𠮷yeyan", "yan 𪜀"):
        assert registered in listed(client, q), q
    assert listed(client, "𠮷野") == set()  # another name: exact or same sound only, not a prefix
    keys = db.session.scalars(select(NameSoundKey.bidx).where(NameSoundKey.person_id == registered)).all()
    assert keys and all(re.fullmatch(r"[0-9a-f]{32}", k) for k in keys)


def found(q: str) -> set[str]:
    ranked = ranked_matches(q)
    return set(db.session.scalars(select(ranked.c.person_id)))


def print_summary(client, person_id: str):
    page = client.get(f"/people/{person_id}/print")
    response = client.post(f"/people/{person_id}/print", data={
        "csrf_token": csrf_from(page.text), "purpose": "个案会议讨论", "variant": "full", "recipient_name": "",
        "basis": "", "consent_given_by": "", "consent_given_on": "", "legal_basis": ""})
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    return PdfReader(io.BytesIO(response.data))


def to_unicode(reader) -> dict[str, str]:
    """What each drawn code stands for, from the fonts' ToUnicode maps (what copying and searching
    the PDF use): {code: text}."""
    found = {}
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            cmap = font.get_object()["/ToUnicode"].get_object().get_data().decode("latin-1")
            for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
                for code, text in re.findall(r"<([0-9a-fA-F]+)>\s*<([0-9a-fA-F]+)>", block):
                    found[code.lower()] = bytes.fromhex(text).decode("utf-16-be")
    return found


def test_the_summary_pdf_carries_characters_the_font_has(client, orgs, logged_in):
    """𠮷 and 䶮 have glyphs in Noto CJK: the text read back from the PDF has them."""
    logged_in("caseworker", orgs["shelter_a"])
    person_id = _register(client, orgs, name="𠮷野䶮", aliases="䶮妹")
    reader = print_summary(client, person_id)
    text = "".join("".join(p.extract_text().split()) for p in reader.pages)
    assert "𠮷野䶮" in text and "䶮妹" in text and "\ufffd" not in text


def test_the_summary_pdf_maps_a_character_without_a_glyph_back_to_itself(client, registered):
    """𪜀 has no glyph in any installed font: WeasyPrint draws the empty glyph under a code of its own
    and maps that code back to 𪜀, so copying or searching the PDF still gives the name (poppler's
    pdftotext reads 𪜀妹). pypdf does not implement the embedded encoding map WeasyPrint writes then,
    and its extract_text garbles the whole page, so this test reads the ToUnicode map itself."""
    mapped = to_unicode(print_summary(client, registered))
    for char in NAME + ALIAS + OTHER:
        assert char in mapped.values(), char
    assert "\ufffd" not in "".join(mapped.values())


def test_a_handover_bundle_brings_the_names_back_unchanged(client, orgs, registered, logged_in, linked):
    post_form(client, "/logout", {}, page_url="/")
    logged_in("manager", orgs["bureau"])
    response = _export(client, db.session.get(Person, registered), linked.public.fingerprint)
    assert response.status_code == 200
    assert NAME.encode() not in response.data
    assert _b_import(linked, response.data).status_code == 302
    with linked.ctx():
        person = db.session.scalar(select(Person))
        assert (person.name, person.alias_names) == (NAME, [ALIAS, OTHER])
        assert person.id in found(NAME) and person.id in found("𠮷 ye yan")  # indexed there too
        db.session.remove()
