"""Handover bundles between two installations: signed, encrypted for one recipient, imported with
the whole history under the recipient's own keys; anything else refused with nothing imported."""
from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import re
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.pool import NullPool

from victimcare import create_app
from victimcare.audit import AuditEvent
from victimcare.auth.models import Organisation
from victimcare.crypto import ENCRYPTED_FIELDS, Keyring, keyring
from victimcare.disclosures.models import Disclosure
from victimcare.extensions import db
from victimcare.people.models import Person, PersonAlias, PersonRevision
from victimcare.portability import bundle, transfer

from .conftest import BrowserLikeClient, PASSWORD, csrf_from, give_totp, post_form
from .conftest import login as _login


def login(client, user, password=PASSWORD):
    """Log in and read the pages in English: these tests check the messages' wording."""
    response = _login(client, user, password)
    client.get("/language/en")
    return response

CONSENT = {"basis": "consent", "consent_given_by": "guardian", "consent_given_on": "2026-01-05"}


class Installation:
    """A second installation: its own database file, keyring and transfer keys."""

    def __init__(self, app):
        self.app = app
        app.test_client_class = BrowserLikeClient
        self.client = app.test_client()

    @contextlib.contextmanager
    def ctx(self):
        with self.app.app_context():
            yield
            db.session.remove()


def _second_installation(test_config, folder):
    from flask_migrate import upgrade
    folder.mkdir()
    Keyring.generate(str(folder / "keys.json")).save()
    app = create_app({**test_config, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder / 'victimcare.db'}",
                      "KEYRING_FILE": str(folder / "keys.json"),
                      "TRANSFER_KEYS_FILE": str(folder / "transfer_keys.json"),
                      "TRANSFER_PARTNERS_FILE": str(folder / "transfer_partners.json"),
                      "SQLALCHEMY_ENGINE_OPTIONS": {"poolclass": NullPool}})
    with app.app_context():
        upgrade(revision="heads")
        db.session.remove()
    return Installation(app)


@pytest.fixture
def here(app, tmp_path):
    """The test's own app is installation A; its transfer files go to a private folder."""
    app.config["TRANSFER_KEYS_FILE"] = str(tmp_path / "a_transfer_keys.json")
    app.config["TRANSFER_PARTNERS_FILE"] = str(tmp_path / "a_transfer_partners.json")
    return app


@pytest.fixture
def there(here, test_config, tmp_path):
    """Installation B with a bureau, a shelter and a manager."""
    b = _second_installation(test_config, tmp_path / "b")
    from victimcare.auth.service import create_organisation, create_user
    with b.ctx():
        bureau = create_organisation("乙省某市民政局", "bureau", "510100", None)
        shelter = create_organisation("乙市救助站", "shelter", "510104", bureau)
        user = create_user("b_manager", "Manager", "manager", bureau, PASSWORD)
        db.session.commit()
        give_totp(user)  # managers have two-factor
        b.ids = {"bureau": bureau.id, "shelter": shelter.id, "manager": user.id}
        b.public = transfer.installation_keys().public
    return b


def _register(a_public, b, name="甲省救助管理系统"):
    with b.ctx():
        transfer.register_partner(name, a_public.text(), "2026-01-01T00:00:00", "test")


@pytest.fixture
def linked(here, there):
    """A trusts B and B trusts A."""
    transfer.register_partner("乙省民政厅", there.public.text(), "2026-01-01T00:00:00", "test")
    _register(transfer.installation_keys().public, there)
    return there


# -- the file to hand over -------------------------------------------------------------------
@pytest.fixture
def rich_person(orgs, make_user, make_person):
    """A person with aliases, corrections, DNA, a placement, medical care through a referral,
    a referral to the police and a disclosure: entries in several sections, with history."""
    from victimcare.medical import service as medical
    from victimcare.people.service import update_dna, update_identity
    from victimcare.placements import service as placements
    from victimcare.referrals import service as referrals
    worker = make_user("caseworker", orgs["shelter_a"])
    clinician = make_user("clinician", orgs["hospital"])
    person = make_person(orgs["shelter_a"], by=worker, name="李小红", aliases="小红\n阿红", id_number=None,
                         notes="初次登记", rescue_date=dt.date(2025, 6, 1), rescue_place="某县某镇")
    update_identity(person, {"name": "李小红", "aliases": "小红", "notes": "更正：来自某省", "sex": "female",
                             "date_of_birth": dt.date(2010, 5, 1), "identity_status": "unidentified",
                             "tracing_result": "searching"}, worker, person.version)
    update_dna(person, {"dna_sample_taken": True, "dna_reference": "DNA-2025-123456",
                        "dna_submitted_on": dt.date(2025, 6, 3)}, worker, person.version)
    placements.admit(person, {"placement_type": "temporary_assistance", "organisation_id": orgs["shelter_a"].id,
                              "institution_name": None, "household_relation": "none",
                              "admitted_on": dt.date(2025, 6, 2), "reason": "解救后临时安置"}, worker)
    referral = referrals.refer(person, orgs["hospital"], "体检及治疗", worker, **{
        "basis": "consent", "consent_given_by": "person", "consent_given_on": dt.date(2025, 6, 2)})
    referrals.accept(referral, clinician)
    db.session.flush()
    medical.add_visit(person, {"visit_date": dt.date(2025, 6, 5), "visit_type": "basic_medical",
                               "diagnosis": "营养不良", "notes": "复查", "total_cost": Decimal("1234.50"),
                               "insurance_paid": Decimal("1000.00")}, clinician)
    referrals.refer(person, orgs["police"], "身份核查", worker)
    db.session.commit()
    return person


def _comparable(obj, *, drop=()) -> dict:
    """Everything a reader sees in a row, without ids and references that are installation-local."""
    model = type(obj)
    values = {}
    for column in model.__table__.columns:
        name = column.name
        if name.endswith("_enc") or name.endswith("_bidx") or name in drop or column.foreign_keys \
                or name in ("id", "version", "entry_id"):
            continue
        values[name] = bundle.plain(getattr(obj, column.key))
    for owner, field in ENCRYPTED_FIELDS:
        if owner is model:
            values[field.name] = bundle.plain(getattr(obj, field.name))
    for (table, column), fallback in bundle.ORG_NAME_FALLBACK.items():
        # an organisation of the origin installation arrives as its name
        if table == model.__tablename__ and values[fallback] is None and getattr(obj, column) is not None:
            values[fallback] = db.session.get(Organisation, getattr(obj, column)).name
    return values


def snapshot(person_id: str) -> dict:
    """The file as a reader sees it, section by section (in the current app's database)."""
    db.session.expire_all()
    person = db.session.get(Person, person_id)
    tables = {"person": [_comparable(person, drop=("case_number",))],
              "person_alias": sorted((_comparable(a) for a in db.session.scalars(
                  select(PersonAlias).where(PersonAlias.person_id == person_id))), key=json.dumps),
              "person_revision": sorted((_comparable(r) for r in db.session.scalars(
                  select(PersonRevision).where(PersonRevision.person_id == person_id))), key=json.dumps)}
    for model in bundle.entry_models():
        if model.__tablename__ in bundle.NOT_IMPORTED_AS_ROWS:
            continue
        rows = db.session.scalars(select(model).where(model.person_id == person_id)).all()
        tables[model.__tablename__] = sorted((_comparable(r) for r in rows), key=json.dumps)
    return tables


def _audit(action, **where):
    query = select(AuditEvent).where(AuditEvent.action == action)
    for key, value in where.items():
        query = query.where(getattr(AuditEvent, key) == value)
    return db.session.scalars(query).all()


def _b_import(b, data: bytes, organisation_key="shelter"):
    with b.ctx():
        client = b.app.test_client()
        login(client, _Named("b_manager"))
        page = client.get("/portability/import")
        assert page.status_code == 200
        return client.post("/portability/import", data={
            "csrf_token": csrf_from(page.text), "organisation_id": str(b.ids[organisation_key]),
            "bundle": (io.BytesIO(data), "handover.vchb")}, content_type="multipart/form-data")


class _Named:
    def __init__(self, username):
        self.username = username


def _b_people(b) -> int:
    with b.ctx():
        return db.session.scalar(select(func.count()).select_from(Person))


def _export(client, person, partner_fp, basis=CONSENT):
    return post_form(client, f"/people/{person.id}/handover",
                     {"partner": partner_fp, "purpose": "返回原籍，移交原籍民政部门", **basis})


# -- the round trip ----------------------------------------------------------------------------
def test_bundle_round_trip_through_the_pages(client, orgs, logged_in, rich_person, linked):
    before = snapshot(rich_person.id)
    a_key = keyring().active
    manager = logged_in("manager", orgs["bureau"])
    response = _export(client, rich_person, linked.public.fingerprint)
    assert response.status_code == 200, response.text
    assert response.mimetype == "application/octet-stream" and "attachment" in response.headers["Content-Disposition"]
    data = response.data
    assert "李小红".encode() not in data and "DNA-2025-123456".encode() not in data  # encrypted
    # A: the disclosure (consent) and the export are on record.
    disclosure = db.session.scalar(select(Disclosure).where(Disclosure.kind == "handover_bundle"))
    assert (disclosure.basis, disclosure.consent_given_by, disclosure.created_by_id) == ("consent", "guardian",
                                                                                        manager.id)
    assert "乙省民政厅" in disclosure.recipient and "identity" in disclosure.sections.split(",")
    exported = _audit("export", object_id=rich_person.id)
    assert len(exported) == 1 and exported[0].details_dict["recipient"] == linked.public.fingerprint
    assert "李小红" not in exported[0].details
    log = client.get(f"/people/{rich_person.id}/disclosures")
    assert "乙省民政厅" in log.text and "返回原籍" in log.text

    response = _b_import(linked, data)
    assert response.status_code == 302, response.text
    with linked.ctx():
        person = db.session.scalar(select(Person))
        assert person.organisation_id == linked.ids["shelter"]
        assert person.case_number != rich_person.case_number and person.case_number.startswith("510104-")
        after = snapshot(person.id)
        # every value of every section equal; the history has one more row: the import itself
        imported = [r for r in after["person_revision"] if r["section"] == "case"]
        assert len(imported) == 1 and "handover_import" in imported[0]["changes"]
        after["person_revision"] = [r for r in after["person_revision"] if r not in imported]
        for table, rows in before.items():
            assert after[table] == rows, table
        assert before["medical_visit"] and before["placement"] and before["disclosure"]
        # re-encrypted under B's keys, bound to new ids
        stored = db.session.get(Person, person.id)
        assert stored.name_enc.split(".")[1] in keyring().data_keys
        assert stored.name_enc.split(".")[1] != a_key
        created = _audit("create", object_id=person.id, section="identity")
        assert any(e.details_dict.get("handover_import") for e in created)
        assert all("李小红" not in e.details for e in _audit("create"))
        # the placement kept the origin shelter's name; hospital entries answer to the receiving shelter
        assert after["placement"][0]["institution_name"] == orgs["shelter_a"].name
        login(linked.client, _Named("b_manager"))
        page = linked.client.get(f"/people/{person.id}")
        assert page.status_code == 200 and "李小红" in page.text


def test_every_demo_file_survives_the_round_trip(here, there, monkeypatch, tmp_path):
    """The demo holds every section in varied states: each file arrives with equal values."""
    from victimcare.auth.models import User
    from victimcare.demo import load_demo
    monkeypatch.setattr(here, "instance_path", str(tmp_path))
    load_demo(echo=lambda *a: None)
    exporter = db.session.scalar(select(User).where(User.role == "manager"))
    transfer.register_partner("乙", there.public.text(), "2026-01-01", "test")
    a_public = transfer.installation_keys().public
    _register(a_public, there)
    people = db.session.scalars(select(Person)).all()
    assert len(people) > 5
    sealed = {}
    for p in people:
        payload, _ = bundle.build_payload(p, exporter)
        sealed[p.id] = (snapshot(p.id), transfer.seal(payload, there.public, transfer.installation_keys()))
    seen_tables = set()
    with there.ctx():
        from victimcare.auth.models import User as BUser
        importer = db.session.get(BUser, there.ids["manager"])
        organisation = db.session.get(Organisation, there.ids["shelter"])
        for before, data in sealed.values():
            payload, sender = transfer.open_bundle(data, transfer.installation_keys(), transfer.partners())
            person = bundle.import_payload(payload, organisation, importer, sender=sender, bundle_digest="x")
            db.session.commit()
            after = snapshot(person.id)
            after["person_revision"] = [r for r in after["person_revision"]
                                        if "handover_import" not in (r["changes"] or "")]
            assert after == before
            seen_tables |= {t for t, rows in before.items() if rows}
    assert {"placement", "residence_application", "medical_visit", "legal_aid", "school_enrolment",
            "employment_service", "person_return", "followup_visit", "case_status_change",
            "disclosure"} <= seen_tables


# -- refusals: nothing imported ----------------------------------------------------------------
@pytest.fixture
def bundle_bytes(client, orgs, logged_in, rich_person, linked):
    logged_in("manager", orgs["bureau"])
    response = _export(client, rich_person, linked.public.fingerprint)
    assert response.status_code == 200
    return response.data


def _refused(b, data, message):
    response = _b_import(b, data)
    assert response.status_code == 422
    assert message in response.text
    assert _b_people(b) == 0
    with b.ctx():
        denied = _audit("denied", section="case")
        assert denied and denied[-1].details_dict["action"] == "handover_import"
        assert db.session.scalar(select(func.count()).select_from(PersonRevision)) == 0


@pytest.mark.parametrize("where", ["first", "ciphertext", "recipient", "sender_key", "signature", "last"])
def test_a_tampered_bundle_is_refused(bundle_bytes, linked, where):
    data = bytearray(bundle_bytes)
    body = bytes(data).split(b"\n")[0]
    header = json.loads(body)
    position = {"first": 0, "last": len(data) - 2, "signature": len(body) + 5,
                "ciphertext": body.index(header["ciphertext"].encode()) + len(header["ciphertext"]) // 2,
                "recipient": body.index(header["recipient"].encode()) + 3,
                "sender_key": body.index(header["sender_key"].encode()) + 10}[where]
    data[position] = data[position] ^ 0x01
    response = _b_import(linked, bytes(data))
    assert response.status_code == 422
    assert "nothing was imported" in response.text.lower() or "Nothing was imported" in response.text
    assert _b_people(linked) == 0


def test_every_single_byte_change_is_refused(bundle_bytes, linked):
    """Service level, exhaustively over a stride of positions (a bit flip anywhere)."""
    with linked.ctx():
        keys, partners = transfer.installation_keys(), transfer.partners()
        transfer.open_bundle(bundle_bytes, keys, partners)  # the untouched bundle opens
        for position in range(0, len(bundle_bytes), 7):
            for bit in (0x01, 0x20):
                data = bytearray(bundle_bytes)
                data[position] ^= bit
                with pytest.raises(transfer.BundleRefused):
                    transfer.open_bundle(bytes(data), keys, partners)


def test_the_signature_is_checked_with_a_message(bundle_bytes, linked):
    body, signature, _ = bundle_bytes.split(b"\n")
    header = json.loads(body)
    sealed = bytearray(transfer._unb64_strict(header["ciphertext"]))
    sealed[10] ^= 0xFF
    header["ciphertext"] = transfer._b64(bytes(sealed))
    data = transfer.canonical(header) + b"\n" + signature + b"\n"
    _refused(linked, data, "signature does not match")


def test_a_bundle_signed_by_an_unknown_installation_is_refused(here, there, client, orgs, logged_in, rich_person):
    transfer.register_partner("乙省民政厅", there.public.text(), "2026-01-01", "test")  # B never registered A
    logged_in("manager", orgs["bureau"])
    data = _export(client, rich_person, there.public.fingerprint).data
    _refused(there, data, "not registered as a trusted partner")


def test_a_bundle_for_another_installation_is_refused(here, there, test_config, tmp_path, client, orgs,
                                                      logged_in, rich_person):
    third = _second_installation(test_config, tmp_path / "c")
    with third.ctx():
        c_public = transfer.installation_keys().public
    transfer.register_partner("丙", c_public.text(), "2026-01-01", "test")
    _register(transfer.installation_keys().public, there)
    logged_in("manager", orgs["bureau"])
    data = _export(client, rich_person, c_public.fingerprint).data
    _refused(there, data, "encrypted for another installation")


def test_garbage_and_oversized_uploads_are_refused(linked, here):
    _refused(linked, b"import os; os.system('echo pwned')\n", "not a handover bundle")
    _refused(linked, b'{"format": "victimcare-handover-1"}\nAAAA\n', "not a handover bundle")
    linked.app.config["HANDOVER_MAX_BYTES"] = 100
    _refused(linked, b"x" * 200, "larger than this installation accepts")


# -- who may ----------------------------------------------------------------------------------
def test_only_managers_export_and_refusals_are_audited(client, orgs, logged_in, rich_person, linked, make_user):
    logged_in("caseworker", orgs["shelter_a"])
    url = f"/people/{rich_person.id}/handover"
    assert client.get(url).status_code == 403
    response = client.post(url, data={"partner": linked.public.fingerprint, "purpose": "x", **CONSENT})
    assert response.status_code in (400, 403)
    denied = _audit("denied", object_id=rich_person.id)
    assert denied and denied[0].details_dict["status"] == 403
    other = client.application.test_client()
    login(other, make_user("manager", orgs["other_bureau"]))
    assert other.get(url).status_code == 404
    assert _audit("export") == []
    assert db.session.scalar(select(Disclosure.id).where(Disclosure.kind == "handover_bundle")) is None


def test_handover_without_consent_or_legal_basis_is_refused(client, orgs, logged_in, rich_person, linked):
    logged_in("manager", orgs["bureau"])
    response = _export(client, rich_person, linked.public.fingerprint, basis={})
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert 'id="basis-error"' in response.text
    response = _export(client, rich_person, linked.public.fingerprint,
                       basis={"basis": "legal_basis", "legal_basis": ""})
    assert 'id="legal_basis-error"' in response.text
    assert _audit("export") == []
    assert db.session.scalar(select(Disclosure.id).where(Disclosure.kind == "handover_bundle")) is None
    response = _export(client, rich_person, "", basis=CONSENT)
    assert 'id="partner-error"' in response.text
    response = _export(client, rich_person, linked.public.fingerprint,
                       basis={"basis": "legal_basis", "legal_basis": "《江苏省反对拐卖人口行动实施计划（2021—2030年）》三(四)5 省际协作"})
    assert response.mimetype == "application/octet-stream", re.findall(r"class=\"error\"[^>]*>([^<]*)", response.text)


def test_import_is_for_managers_into_their_own_organisations(linked, bundle_bytes):
    from victimcare.auth.service import create_organisation, create_user
    with linked.ctx():
        other = create_organisation("另一局", "bureau", "520100", None)
        create_user("b_worker", "W", "caseworker", db.session.get(Organisation, linked.ids["shelter"]), PASSWORD)
        db.session.commit()
        other_id = other.id
        login(linked.client, _Named("b_worker"))
        assert linked.client.get("/portability/import").status_code == 403
        assert _audit("denied", section="case")
    linked.ids["elsewhere"] = other_id
    response = _b_import(linked, bundle_bytes, organisation_key="elsewhere")
    assert response.status_code == 200 and 'id="organisation_id-error"' in response.text
    assert _b_people(linked) == 0


def test_partners_page_for_managers_and_admins(client, orgs, logged_in, here, there, make_user):
    logged_in("caseworker", orgs["shelter_a"])
    assert client.get("/portability/partners").status_code == 403
    assert _audit("denied", section="admin")
    fresh = client.application.test_client()
    login(fresh, make_user("admin", orgs["bureau"]))
    page = fresh.get("/portability/partners")
    own = transfer.installation_keys().public
    assert page.status_code == 200 and own.text() in page.text
    response = post_form(fresh, "/portability/partners", {"name": "乙省民政厅", "public_key": "vc1:abc:def"})
    assert response.status_code == 200 and "Not an installation key" in response.text
    response = post_form(fresh, "/portability/partners", {"name": "自己", "public_key": own.text()})
    assert "own key" in response.text
    assert transfer.partners() == []
    response = post_form(fresh, "/portability/partners", {"name": "乙省民政厅", "public_key": there.public.text()})
    assert response.status_code == 302
    assert [p.fingerprint for p in transfer.partners()] == [there.public.fingerprint]
    assert _audit("admin", object_id=there.public.fingerprint)
    with open(here.config["TRANSFER_PARTNERS_FILE"]) as fh:  # in instance/, not in the database
        assert there.public.text() in fh.read()


def test_installation_key_command_prints_the_public_keys(here):
    result = here.test_cli_runner().invoke(args=["installation-key"])
    assert result.exit_code == 0, result.output
    line = result.output.splitlines()[0]
    assert transfer.PublicIdentity.parse(line) == transfer.installation_keys().public
    with open(here.config["TRANSFER_KEYS_FILE"]) as fh:
        private = json.load(fh)
    assert private["signing_key"] not in result.output and private["encryption_key"] not in result.output
