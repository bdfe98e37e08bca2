"""Attachments (DOMAIN.md section 1, photos and documents): uploads checked from their content, stored
encrypted, served only as downloads to those who may read them; hostile files, names and users."""
from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import secrets

import pydyf
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin
from sqlalchemy import func, select, text
from werkzeug.http import parse_options_header

from victimcare import keys
from victimcare.attachments import content, service
from victimcare.attachments.demo import add_examples
from victimcare.attachments.models import Attachment
from victimcare.audit import AuditEvent
from victimcare.crypto import DecryptionError, Keyring, keyring
from victimcare.extensions import db
from victimcare.people.models import PersonRevision
from victimcare.referrals import service as referrals

from .conftest import csrf_from, login

MiB = 1024 * 1024
DESCRIPTION = "户籍证明扫描件，派出所出具"


# -- files ----------------------------------------------------------------------------------------
def make_pdf(extra_catalog: bytes = b"", extra_objects=(), text_marker: bytes = b"TOPSECRET-MARKER") -> bytes:
    """A small valid PDF, written by hand so that hostile variants can be made from it."""
    stream = b"BT /F1 12 Tf 20 100 Td (" + text_marker + b") Tj ET"
    objs = [b"<< /Type /Catalog /Pages 2 0 R " + extra_catalog + b" >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Contents 4 0 R >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream", *extra_objects]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objs, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return bytes(out)


def pdf_with_script_in_object_stream() -> bytes:
    """JavaScript inside a compressed object stream: invisible to a search of the raw bytes."""
    pdf = pydyf.PDF()
    action = pydyf.Dictionary({"S": "/JavaScript", "JS": pydyf.String("app.alert(1)")})
    pdf.add_object(action)
    pdf.catalog["OpenAction"] = action.reference
    pdf.add_page(pydyf.Dictionary({"Type": "/Page", "Parent": pdf.pages.reference,
                                   "MediaBox": pydyf.Array([0, 0, 100, 100])}))
    out = io.BytesIO()
    pdf.write(out, compress=True)
    assert b"JavaScript" not in out.getvalue()
    return out.getvalue()


GPS = {1: "N", 2: (31.0, 14.0, 5.0), 3: "E", 4: (121.0, 28.0, 1.0)}


def photo_with_gps(size=(64, 48), orientation=6) -> bytes:
    """A JPEG as a phone writes it: EXIF with camera, GPS position and orientation; a comment; XMP."""
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = "PhoneMaker"
    exif[0x0112] = orientation
    exif[0x8825] = GPS
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"shelter-comment", xmp=b"<x:xmpmeta>GPSLatitude 31,14N</x:xmpmeta>")
    return out.getvalue()


def noisy_photo() -> bytes:
    """A JPEG whose compressed picture data is most of the file (noise does not compress)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (200, 150), random.Random(5).randbytes(200 * 150 * 3)).save(out, "JPEG")
    return out.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "GPS 31.2N 121.4E shelter")
    out = io.BytesIO()
    Image.new("RGBA", (30, 20), (10, 20, 30, 128)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (30, 20), (10, 200, 30)).save(out, "WEBP")
    return out.getvalue()


# -- users and people -----------------------------------------------------------------------------
@pytest.fixture
def caseworker(orgs, make_user):
    return make_user("caseworker", orgs["shelter_a"])


@pytest.fixture
def person(orgs, make_person, caseworker):
    return make_person(orgs["shelter_a"], by=caseworker, name="附件对象")


def as_user(client, user):
    """A fresh browser logged in as ``user``."""
    other = client.application.test_client()
    assert login(other, user).status_code == 302
    return other


def multipart(fields: dict, file: tuple[bytes, str, str] | None) -> tuple[bytes, str]:
    """The request body exactly as a (possibly hostile) client sends it, built in memory: the file name
    goes into the header as given, quoted the way Werkzeug reads it back."""
    boundary = "----victimcare" + secrets.token_hex(8)
    body = bytearray()
    for name, value in fields.items():
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n').encode()
    if file is not None:
        payload, filename, content_type = file
        quoted = filename.replace("\\", "\\\\").replace('"', '\\"').replace("\r", "%0D").replace("\n", "%0A")
        body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{quoted}"\r\n'
                 f"Content-Type: {content_type}\r\n\r\n").encode() + payload + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return bytes(body), f"multipart/form-data; boundary={boundary}"


def upload(client, person_id, payload: bytes | None, name="户籍证明.pdf", content_type="application/pdf",
           **fields):
    url = f"/people/{person_id}/attachments/new"
    page = client.get(url)
    data = {"csrf_token": csrf_from(page.text), "kind": "identity_document", "description": DESCRIPTION, **fields}
    body, body_type = multipart(data, None if payload is None else (payload, name, content_type))
    return client.post(url, data=body, content_type=body_type)


def attachments() -> list[Attachment]:
    db.session.expire_all()
    return db.session.scalars(select(Attachment).order_by(Attachment.created_at)).all()


def errors_on(response) -> list[str]:
    return re.findall(r'<p class="error" id="([a-z_]+)-error"', response.text)


def audit_rows(action=None):
    query = select(AuditEvent).order_by(AuditEvent.seq)
    if action:
        query = query.where(AuditEvent.action == action)
    return db.session.scalars(query).all()


def denials(person_id=None):
    return [r.details_dict for r in audit_rows("denied") if person_id is None or r.object_id == person_id]


@pytest.fixture
def stored(client, caseworker, person):
    """One PDF uploaded by the caseworker (the client is logged in as them)."""
    assert login(client, caseworker).status_code == 302
    response = upload(client, person.id, make_pdf())
    assert response.status_code == 302, response.text
    return attachments()[0]


# -- round trip ---------------------------------------------------------------------------------------
def test_upload_then_download_returns_the_same_pdf_as_a_file_to_save(client, stored, person):
    pdf = make_pdf()
    assert (stored.media_type, stored.size, stored.kind) == ("application/pdf", len(pdf), "identity_document")
    assert stored.sha256 == service.content_digest(pdf) != hashlib.sha256(pdf).hexdigest()
    assert (stored.file_name, stored.description) == ("户籍证明.pdf", DESCRIPTION)
    listing = client.get(f"/people/{person.id}/attachments")
    assert listing.status_code == 200 and "户籍证明.pdf" in listing.text and DESCRIPTION in listing.text

    response = client.get(f"/attachments/{stored.id}/download")
    assert response.status_code == 200
    assert response.data == pdf
    headers = response.headers
    assert headers["Content-Type"] == "application/pdf"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Content-Security-Policy"] == "sandbox"
    assert headers["Cache-Control"] == "no-store"
    disposition, params = parse_options_header(headers["Content-Disposition"])
    assert disposition == "attachment"
    assert params["filename"] == "户籍证明.pdf"  # werkzeug decodes filename* (RFC 5987) into filename
    assert "filename*=UTF-8''%E6%88%B7%E7%B1%8D%E8%AF%81%E6%98%8E.pdf" in headers["Content-Disposition"]
    assert 'filename="attachment.pdf"' in headers["Content-Disposition"]  # for clients without RFC 5987
    assert "ETag" not in headers and "Last-Modified" not in headers


def test_every_download_is_audited_without_the_file_name(client, stored, person):
    for _ in range(2):
        assert client.get(f"/attachments/{stored.id}/download").status_code == 200
    downloads = [r for r in audit_rows("view") if r.details_dict.get("entry") == stored.id]
    assert len(downloads) == 2
    assert all(r.object_id == person.id and r.section == "attachments" for r in downloads)
    assert all(r.details_dict["download"] == "attachment" for r in downloads)
    escaped = json.dumps("户籍证明")[1:-1]
    for row in audit_rows():
        assert "户籍证明" not in row.details and escaped not in row.details and DESCRIPTION not in row.details


def test_upload_is_in_the_history_with_its_name_encrypted(client, stored, person):
    revision = db.session.scalars(select(PersonRevision).where(PersonRevision.section == "attachments")).one()
    assert json.loads(revision.changes)["file_name"] == [None, "户籍证明.pdf"]
    history = client.get(f"/people/{person.id}/history")
    assert "户籍证明.pdf" in history.text


# -- encryption at rest -------------------------------------------------------------------------------
def _raw(attachment_id, column):
    return db.session.execute(text(f"SELECT {column} FROM attachment WHERE id = :id"),
                              {"id": attachment_id}).scalar()


def test_database_holds_no_plaintext_of_the_file_or_its_name(stored):
    blob = bytes(_raw(stored.id, "content_enc"))
    assert blob.startswith(f"v1.{keyring().active}.".encode())
    assert b"TOPSECRET-MARKER" not in blob and b"%PDF" not in blob
    for column in ("file_name_enc", "description_enc"):
        value = _raw(stored.id, column)
        assert value.startswith("v1.") and "户籍" not in value
    row = db.session.execute(text("SELECT * FROM attachment WHERE id = :id"), {"id": stored.id}).one()
    assert not any(isinstance(v, str) and "户籍" in v for v in row)


def test_content_copied_into_another_attachment_does_not_decrypt(client, stored, person, orgs, make_person,
                                                                 caseworker):
    second_person = make_person(orgs["shelter_a"], by=caseworker, name="另一人")
    assert upload(client, second_person.id, make_pdf(text_marker=b"OTHER")).status_code == 302
    victim_id, other_id = stored.id, next(a.id for a in attachments() if a.person_id == second_person.id)
    db.session.execute(text("UPDATE attachment SET content_enc = :blob WHERE id = :id"),
                       {"blob": _raw(victim_id, "content_enc"), "id": other_id})
    db.session.commit()
    db.session.expunge_all()
    with pytest.raises(DecryptionError, match=f"attachment.content.{other_id}"):
        db.session.get(Attachment, other_id).content
    assert db.session.get(Attachment, victim_id).content == make_pdf()


def test_a_changed_checksum_stops_the_download(client, stored):
    db.session.execute(text("UPDATE attachment SET sha256 = :h WHERE id = :id"), {"h": "0" * 64, "id": stored.id})
    db.session.commit()
    with pytest.raises(service.IntegrityFailure):
        client.get(f"/attachments/{stored.id}/download")
    db.session.rollback()
    assert not [r for r in audit_rows("view") if r.details_dict.get("download")]


def test_the_upload_page_says_photos_lose_their_location(client, caseworker, person):
    login(client, caseworker)
    client.get("/language/en")
    page = client.get(f"/people/{person.id}/attachments/new")
    assert "GPS position" in page.text and "10 MB" in page.text
    assert 'enctype="multipart/form-data"' in page.text


def test_bytes_encryption_is_bound_to_its_associated_data_and_key(app):
    kr = keyring()
    sealed = kr.encrypt_bytes(b"\x00\xffbinary", "attachment.content.a")
    assert kr.encrypt_bytes(b"\x00\xffbinary", "attachment.content.a") != sealed
    assert kr.decrypt_bytes(sealed, "attachment.content.a") == b"\x00\xffbinary"
    with pytest.raises(DecryptionError, match="does not decrypt"):
        kr.decrypt_bytes(sealed, "attachment.content.b")
    tampered = bytearray(sealed)
    tampered[-5] ^= 1
    with pytest.raises(DecryptionError, match="does not decrypt"):
        kr.decrypt_bytes(bytes(tampered), "attachment.content.a")
    with pytest.raises(DecryptionError, match="Malformed"):
        kr.decrypt_bytes(b"v1.k1", "attachment.content.a")
    with pytest.raises(DecryptionError, match="not in the keyring"):
        kr.decrypt_bytes(b"v1.kdeadbeef." + bytes(40), "attachment.content.a")


def test_key_rotation_reencrypts_attachments_in_small_batches(client, stored, person, app, monkeypatch):
    for marker in (b"A", b"B", b"C", b"D", b"E"):
        assert upload(client, person.id, make_pdf(text_marker=marker)).status_code == 302
    new = Keyring.from_dict(keyring().to_dict())
    new.add_active_key()
    assert keys.pending_rotation(new) >= 6
    batches = []
    real_reencrypt = type(Attachment.__dict__["content"]).reencrypt

    def counting(self, kr, token, aad):
        batches.append(aad)
        return real_reencrypt(self, kr, token, aad)
    monkeypatch.setattr(type(Attachment.__dict__["content"]), "reencrypt", counting)
    keys.rotate(new, batch_size=500)
    assert len(batches) == 6
    assert keys.pending_rotation(new) == 0
    blob = bytes(_raw(stored.id, "content_enc"))
    assert blob.startswith(f"v1.{new.active}.".encode())
    monkeypatch.setitem(app.extensions, "victimcare_keyring", new)
    response = client.get(f"/attachments/{stored.id}/download")
    assert response.status_code == 200 and response.data == make_pdf()


def test_a_rotation_batch_of_attachments_is_small(app):
    assert Attachment.__dict__["content"].rotate_batch <= 4


# -- images -----------------------------------------------------------------------------------------------
def test_photo_is_saved_again_without_exif_gps_comment_or_xmp_and_upright(client, caseworker, person):
    login(client, caseworker)
    original = photo_with_gps()
    assert b"PhoneMaker" in original
    assert upload(client, person.id, original, name="IMG_0001.JPG", content_type="image/jpeg",
                  kind="photo").status_code == 302
    stored = attachments()[0]
    served = client.get(f"/attachments/{stored.id}/download")
    assert served.headers["Content-Type"] == "image/jpeg"
    data = served.data
    for marker in (b"PhoneMaker", b"Exif", b"shelter-comment", b"GPSLatitude", b"xmpmeta"):
        assert marker not in data
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and not dict(image.getexif())
    assert image.size == (48, 64)  # orientation 6 applied before the EXIF went
    assert stored.sha256 == service.content_digest(data) and stored.size == len(data)


@pytest.mark.parametrize("make, media_type", [(png_with_text, "image/png"), (webp, "image/webp")])
def test_png_and_webp_are_accepted_and_lose_their_metadata(client, caseworker, person, make, media_type):
    login(client, caseworker)
    assert upload(client, person.id, make(), name="a.png", content_type="image/png",
                  kind="photo").status_code == 302
    served = client.get(f"/attachments/{attachments()[0].id}/download")
    assert served.headers["Content-Type"] == media_type
    assert b"GPS" not in served.data and b"shelter" not in served.data


@pytest.mark.parametrize("mode, options", [("RGB", {}), ("RGB", {"progressive": True}),
                                           ("RGB", {"restart_marker_blocks": 4}), ("RGB", {"optimize": True}),
                                           ("L", {}), ("CMYK", {})])
def test_ordinary_jpeg_variants_pass_the_structure_walk(app, mode, options):
    out = io.BytesIO()
    Image.open(io.BytesIO(noisy_photo())).convert(mode).save(out, "JPEG", **options)
    checked = content.check(out.getvalue(), app.config["ATTACHMENT_MAX_PIXELS"])
    assert Image.open(io.BytesIO(checked.data)).size == (200, 150)


def test_a_pdf_written_by_weasyprint_is_accepted(app):
    from weasyprint import HTML
    pdf = HTML(string="<h1>个案摘要</h1><p><a href='https://example.org'>link</a></p>").write_pdf()
    assert content.check(pdf, 1).data == pdf


def test_a_jpeg_with_a_zip_appended_is_stored_without_it(client, caseworker, person):
    login(client, caseworker)
    polyglot = photo_with_gps() + b"PK\x03\x04" + b"payload.html<script>alert(1)</script>" * 10
    assert upload(client, person.id, polyglot, name="p.jpg", content_type="image/jpeg",
                  kind="photo").status_code == 302
    data = client.get(f"/attachments/{attachments()[0].id}/download").data
    assert b"PK\x03\x04" not in data and b"<script>" not in data


def test_photo_is_shown_in_the_file_from_an_authenticated_route(client, caseworker, person):
    login(client, caseworker)
    upload(client, person.id, photo_with_gps(), name="照片.jpg", content_type="image/jpeg", kind="photo")
    photo = attachments()[0]
    page = client.get(f"/people/{person.id}")
    assert f'/attachments/{photo.id}/image' in page.text
    shown = client.get(f"/attachments/{photo.id}/image")
    assert shown.status_code == 200 and shown.headers["Content-Type"] == "image/jpeg"
    assert shown.headers["Content-Disposition"].startswith("inline")
    assert shown.headers["Content-Security-Policy"] == "sandbox"
    assert shown.headers["Cache-Control"] == "no-store"
    assert any(r.details_dict.get("download") == "inline" for r in audit_rows("view"))
    anonymous = client.application.test_client()
    assert anonymous.get(f"/attachments/{photo.id}/image").status_code == 302


def test_a_pdf_is_never_served_inline(client, stored):
    assert client.get(f"/attachments/{stored.id}/image").status_code == 404


# -- hostile uploads ------------------------------------------------------------------------------------
HOSTILE = {
    "empty": (b"", "empty.pdf", "application/pdf"),
    "wrong_magic": (secrets.token_bytes(2048), "scan.pdf", "application/pdf"),
    "renamed_exe": (b"MZ\x90\x00\x03" + b"\x00" * 200 + b"This program cannot be run in DOS mode", "户籍证明.pdf",
                    "application/pdf"),
    "html": (b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>", "photo.jpg",
             "image/jpeg"),
    "svg_with_script": (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)">'
                        b"<script>alert(1)</script></svg>", "photo.png", "image/png"),
    "html_with_pdf_inside": (b"<html><script>alert(1)</script>" + make_pdf(), "a.pdf", "application/pdf"),
    "pdf_header_then_garbage": (b"%PDF-1.7\n" + secrets.token_bytes(4000) + b"\n%%EOF\n", "a.pdf", "application/pdf"),
    "pdf_then_html": (make_pdf() + b"<html><script>alert(1)</script></html>", "a.pdf", "application/pdf"),
    "pdf_then_zip": (make_pdf() + b"PK\x03\x04\x14\x00" + bytes(40), "a.pdf", "application/pdf"),
    "truncated_pdf": (make_pdf()[:-60], "a.pdf", "application/pdf"),
    "pdf_with_javascript": (make_pdf(b"/OpenAction 5 0 R", [b"<< /S /JavaScript /JS (app.alert(1)) >>"]), "a.pdf",
                            "application/pdf"),
    "pdf_with_escaped_javascript": (make_pdf(b"/OpenAction 5 0 R", [b"<< /S /J#61vaScript /J#53 (app.alert(1)) >>"]),
                                    "a.pdf", "application/pdf"),
    "pdf_with_launch": (make_pdf(b"/OpenAction << /S /Launch /F (cmd.exe) >>"), "a.pdf", "application/pdf"),
    "pdf_with_embedded_file": (make_pdf(b"/Names << /EmbeddedFiles << /Names [(x.exe) 5 0 R] >> >>",
                                        [b"<< /Type /Filespec /F (x.exe) >>"]), "a.pdf", "application/pdf"),
    "pdf_with_script_in_object_stream": (pdf_with_script_in_object_stream(), "a.pdf", "application/pdf"),
    "encrypted_pdf": (make_pdf().replace(b"/Root 1 0 R", b"/Root 1 0 R /Encrypt << /Filter /Standard /V 1 /R 2 "
                                         b"/O <00> /U <00> /P -4 >>"), "a.pdf", "application/pdf"),
    "truncated_jpeg": (photo_with_gps()[:-200], "a.jpg", "image/jpeg"),
    # Cut inside the picture data: Pillow alone accepts this once WeasyPrint is loaded (content.py).
    "truncated_jpeg_picture_data": (noisy_photo()[:int(len(noisy_photo()) * 0.7)], "a.jpg", "image/jpeg"),
    "jpeg_missing_end_marker": (photo_with_gps()[:-2], "a.jpg", "image/jpeg"),
    "truncated_png": (png_with_text()[:-20], "a.png", "image/png"),
    "png_with_bad_checksum": (png_with_text()[:-5] + b"\x00" + png_with_text()[-4:], "a.png", "image/png"),
    "truncated_webp": (webp()[:-8], "a.webp", "image/webp"),
    "jpeg_header_then_garbage": (b"\xff\xd8\xff\xe0" + secrets.token_bytes(3000), "a.jpg", "image/jpeg"),
}
PATH_TRICKS = {"parent_dirs": "../../etc/passwd", "windows_path": "C:\\x\\y.pdf", "nul_byte": "scan\x00.exe.pdf",
               "rtl_override": "scan\u202efdp.exe", "absolute": "/etc/shadow", "dot_dot": "..",
               "newline": "a\r\nContent-Type: text/html.pdf"}


def _assert_refused_with_input_kept(response, field="file"):
    assert response.status_code == 200
    assert errors_on(response) == [field]
    assert DESCRIPTION in response.text  # the description typed is still in the form
    assert re.search(r'<option selected value="identity_document">', response.text)
    assert attachments() == []
    assert not [r for r in audit_rows("create") if r.section == "attachments"]
    assert db.session.scalar(select(func.count()).select_from(PersonRevision)
                             .where(PersonRevision.section == "attachments")) == 0


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_file_gets_a_message_on_the_file_field_and_writes_nothing(client, caseworker, person, case):
    login(client, caseworker)
    payload, name, content_type = HOSTILE[case]
    _assert_refused_with_input_kept(upload(client, person.id, payload, name=name, content_type=content_type))


@pytest.mark.parametrize("case", sorted(PATH_TRICKS))
def test_path_tricks_in_the_file_name_are_refused_and_touch_no_file(client, caseworker, person, app, case):
    login(client, caseworker)
    before = sorted(os.listdir(app.instance_path))
    response = upload(client, person.id, make_pdf(), name=PATH_TRICKS[case])
    _assert_refused_with_input_kept(response)
    assert sorted(os.listdir(app.instance_path)) == before


def test_refusal_messages_say_what_is_wrong(client, caseworker, person):
    login(client, caseworker)
    client.get("/language/en")
    cases = [(b"", "empty"), (b"MZ\x90\x00", "not a PDF, JPEG, PNG or WebP"),
             (HOSTILE["pdf_with_javascript"][0], "scripts"), (HOSTILE["truncated_jpeg"][0], "damaged or incomplete"),
             (HOSTILE["pdf_then_html"][0], "appended")]
    for payload, words in cases:
        response = upload(client, person.id, payload, name="a.pdf")
        assert words in response.text, words
    assert "path parts" in upload(client, person.id, make_pdf(), name="../a.pdf").text


def test_no_file_and_no_kind_each_get_their_own_message(client, caseworker, person):
    login(client, caseworker)
    _assert_refused_with_input_kept(upload(client, person.id, None))
    response = upload(client, person.id, make_pdf(), kind="")
    assert response.status_code == 200 and errors_on(response) == ["kind"] and attachments() == []
    response = upload(client, person.id, make_pdf(), kind="executable")
    assert response.status_code == 200 and errors_on(response) == ["kind"] and attachments() == []


def test_a_file_just_over_the_limit_gets_a_form_message_not_a_413(client, caseworker, person, app):
    login(client, caseworker)
    assert app.config["ATTACHMENT_MAX_BYTES"] == 10 * MiB
    payload = make_pdf() + b" " * (10 * MiB + 1 - len(make_pdf()))
    _assert_refused_with_input_kept(upload(client, person.id, payload))


def test_a_file_at_the_limit_is_accepted_and_one_byte_more_is_not(client, caseworker, person, app, monkeypatch):
    login(client, caseworker)
    pdf = make_pdf()
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", len(pdf) - 1)
    _assert_refused_with_input_kept(upload(client, person.id, pdf))
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", len(pdf))
    assert upload(client, person.id, pdf).status_code == 302


def test_a_request_far_over_the_limit_gets_the_413_page(client, caseworker, person):
    login(client, caseworker)
    response = upload(client, person.id, b"%PDF-" + b"0" * (12 * MiB))
    assert response.status_code == 413
    assert "<html" in response.text.lower() and "Traceback" not in response.text
    assert attachments() == []


def test_an_image_with_too_many_pixels_is_refused_before_it_is_decoded(client, caseworker, person, app, monkeypatch):
    login(client, caseworker)
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_PIXELS", 1000)
    _assert_refused_with_input_kept(upload(client, person.id, photo_with_gps(), name="a.jpg",
                                           content_type="image/jpeg"))


def test_the_browser_content_type_and_the_name_do_not_decide_the_type(client, caseworker, person):
    login(client, caseworker)
    assert upload(client, person.id, photo_with_gps(), name="report.exe",
                  content_type="application/x-msdownload").status_code == 302
    stored = attachments()[0]
    assert stored.media_type == "image/jpeg"
    response = client.get(f"/attachments/{stored.id}/download")
    assert response.headers["Content-Type"] == "image/jpeg"
    assert parse_options_header(response.headers["Content-Disposition"])[1]["filename"] == "report.jpg"


def test_long_and_odd_names_are_kept_as_safe_display_text(client, caseworker, person):
    login(client, caseworker)
    long_name = "很长的文件名" * 40 + ".pdf"
    assert upload(client, person.id, make_pdf(), name=long_name).status_code == 302
    assert upload(client, person.id, make_pdf(), name='a<b>:"c|?*.pdf').status_code == 302  # quoted
    first, second = attachments()
    assert len(first.file_name) <= content.MAX_NAME and first.file_name.endswith(".pdf")
    assert second.file_name == "a_b___c___.pdf"
    page = client.get(f"/people/{person.id}/attachments")
    assert "<b>" not in page.text


@pytest.mark.parametrize("name, fallback", [("户籍证明.pdf", "attachment.pdf"), ("Scan 1 (2).pdf", "Scan 1 (2).pdf"),
                                            ("Café résumé.jpeg", "Cafe resume.jpeg"), ("照片", "attachment"),
                                            ("a;b=c.pdf", "abc.pdf")])
def test_content_disposition_has_a_readable_ascii_fallback_and_the_exact_name(name, fallback):
    header = content.content_disposition("attachment", name)
    disposition, params = parse_options_header(header)
    assert disposition == "attachment" and params["filename"] == name
    assert f'filename="{fallback}"' in header


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_display_names_never_hold_paths_or_controls(raw):
    name = content.display_name(raw)
    assert "/" not in name and "\\" not in name and len(name) <= content.MAX_NAME
    assert not any(ord(ch) < 32 or ch in "\u202e\u202d\u2066\u200f" for ch in name)
    assert content.display_name(name) == name
    header = content.content_disposition("attachment", name or "x")
    assert "\r" not in header and "\n" not in header
    assert parse_options_header(header)[1]["filename"] == (name or "x")


MAGIC_PREFIXES = [b"", b"%PDF-1.4\n", b"\xff\xd8\xff\xe0", b"\x89PNG\r\n\x1a\n", b"RIFF\x10\x00\x00\x00WEBPVP8 ",
                  make_pdf()[:200], photo_with_gps()[:300], png_with_text()[:60]]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(MAGIC_PREFIXES), body=st.binary(max_size=2000),
       name=st.text(max_size=80), description=st.text(max_size=300))
def test_random_uploads_never_fail_and_never_half_save(client, caseworker, person, prefix, body, name, description):
    if client.get("/login").status_code == 200:  # the first example logs in; the client is kept between examples
        login(client, caseworker)
    before = len(attachments())
    description = "".join(ch for ch in description if ch.isprintable())  # what a browser can send in a textarea
    response = upload(client, person.id, prefix + body, name=name or "x", description=description)
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert "file" in errors_on(response) or "description" in errors_on(response)
        assert len(attachments()) == before
    else:
        assert len(attachments()) == before + 1


# -- who may ----------------------------------------------------------------------------------------------
def test_other_organisation_gets_404_for_every_route_and_it_is_audited(client, stored, person, orgs, make_user,
                                                                        make_person):
    stranger = as_user(client, make_user("caseworker", orgs["other_shelter"]))
    urls = [f"/people/{person.id}/attachments", f"/people/{person.id}/attachments/new",
            f"/attachments/{stored.id}/download", f"/attachments/{stored.id}/image",
            f"/attachments/{stored.id}/withdraw"]
    for url in urls:
        assert stranger.get(url).status_code == 404, url
    own = make_person(orgs["other_shelter"], name="他处人员")
    token = csrf_from(stranger.get(f"/people/{own.id}/attachments/new").text)
    body, body_type = multipart({"csrf_token": token, "kind": "photo"}, (make_pdf(), "x.pdf", "application/pdf"))
    assert stranger.post(f"/people/{person.id}/attachments/new", data=body, content_type=body_type).status_code == 404
    assert stranger.post(f"/attachments/{stored.id}/withdraw",
                         data={"csrf_token": token, "reason": "x", "version": "1"}).status_code == 404
    assert len(attachments()) == 1
    assert len([d for d in denials(person.id) if d["status"] == 404]) >= len(urls)


def test_manager_of_another_bureau_gets_404(client, stored, orgs, make_user):
    manager = as_user(client, make_user("manager", orgs["other_bureau"]))
    assert manager.get(f"/attachments/{stored.id}/download").status_code == 404


@pytest.mark.parametrize("role, org", [("clinician", "hospital"), ("police", "police")])
def test_partners_with_an_active_referral_get_403(client, stored, person, caseworker, orgs, make_user, role, org):
    partner = make_user(role, orgs[org])
    referral = referrals.refer(person, orgs[org], "请协助", caseworker)
    referrals.accept(referral, partner)
    db.session.commit()
    browser = as_user(client, partner)
    assert browser.get(f"/people/{person.id}").status_code == 200
    for url in (f"/people/{person.id}/attachments", f"/attachments/{stored.id}/download",
                f"/attachments/{stored.id}/image"):
        assert browser.get(url).status_code == 403, url
    assert f"/attachments/{stored.id}" not in browser.get(f"/people/{person.id}").text
    assert any(d["status"] == 403 for d in denials())


def test_a_pending_referral_shows_nothing(client, stored, person, caseworker, orgs, make_user):
    clinician = make_user("clinician", orgs["hospital"])
    referrals.refer(person, orgs["hospital"], "请诊治", caseworker)
    db.session.commit()
    browser = as_user(client, clinician)
    assert browser.get(f"/attachments/{stored.id}/download").status_code == 403
    assert "户籍证明" not in browser.get(f"/people/{person.id}").text


@pytest.mark.parametrize("role, org", [("auditor", "supervision"), ("admin", "bureau")])
def test_auditor_and_admin_see_no_attachments(client, stored, make_user, orgs, role, org):
    browser = as_user(client, make_user(role, orgs[org]))
    response = browser.get(f"/attachments/{stored.id}/download")
    assert response.status_code == 403 and b"%PDF" not in response.data


def test_manager_reads_and_downloads_but_cannot_upload_or_withdraw(client, stored, person, orgs, make_user):
    manager = make_user("manager", orgs["bureau"])
    browser = as_user(client, manager)
    listing = browser.get(f"/people/{person.id}/attachments")
    assert listing.status_code == 200 and "户籍证明.pdf" in listing.text
    assert f"/people/{person.id}/attachments/new" not in listing.text and "/withdraw" not in listing.text
    assert browser.get(f"/attachments/{stored.id}/download").data == make_pdf()
    assert browser.get(f"/people/{person.id}/attachments/new").status_code == 403
    assert browser.get(f"/attachments/{stored.id}/withdraw").status_code == 403
    token = csrf_from(listing.text) if "csrf_token" in listing.text else csrf_from(browser.get("/").text)
    response = browser.post(f"/people/{person.id}/attachments/new", content_type="multipart/form-data",
                            data={"csrf_token": token, "kind": "photo", "file": (io.BytesIO(make_pdf()), "x.pdf")})
    assert response.status_code == 403
    response = browser.post(f"/attachments/{stored.id}/withdraw", data={"csrf_token": token, "reason": "x",
                                                                       "version": "1"})
    assert response.status_code == 403
    assert len(attachments()) == 1 and attachments()[0].withdrawn_at is None
    assert sum(1 for d in denials() if d["status"] == 403) >= 4


def test_guessed_and_malformed_ids_get_404(client, stored):
    for attachment_id in (secrets.token_hex(16), stored.id[:-1] + ("0" if stored.id[-1] != "0" else "1"),
                          stored.id + "0", "x" * 200, "..%2F..%2Fetc%2Fpasswd"):
        assert client.get(f"/attachments/{attachment_id}/download").status_code == 404, attachment_id


def test_signed_out_users_are_sent_to_log_in(client, stored):
    anonymous = client.application.test_client()
    response = anonymous.get(f"/attachments/{stored.id}/download")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_a_closed_file_takes_no_uploads(client, stored, person):
    person.status = "closed"
    db.session.commit()
    assert client.get(f"/people/{person.id}/attachments/new").status_code == 409
    assert client.get(f"/attachments/{stored.id}/download").status_code == 200


# -- withdrawing ----------------------------------------------------------------------------------------
def _withdraw(client, attachment_id, **data):
    url = f"/attachments/{attachment_id}/withdraw"
    page = client.get(url)
    version = re.search(r'name="version" type="hidden" value="(\d+)"', page.text).group(1)
    return client.post(url, data={"csrf_token": csrf_from(page.text), "version": version, **data})


def test_withdrawing_hides_it_keeps_it_and_records_the_reason(client, stored, person):
    assert _withdraw(client, stored.id, reason="上传到了错误的档案").status_code == 302
    listing = client.get(f"/people/{person.id}/attachments")
    assert "户籍证明.pdf" not in listing.text
    assert client.get(f"/attachments/{stored.id}/download").status_code == 404
    kept = attachments()[0]
    assert kept.withdrawn_at is not None and kept.withdrawn_reason == "上传到了错误的档案"
    assert kept.content == make_pdf()  # no hard delete
    history = client.get(f"/people/{person.id}/history")
    assert "上传到了错误的档案" in history.text


def test_withdrawing_needs_a_reason(client, stored):
    response = _withdraw(client, stored.id, reason="  ")
    assert response.status_code == 200 and errors_on(response) == ["reason"]
    assert attachments()[0].withdrawn_at is None


def test_withdrawing_with_a_stale_form_is_a_conflict(client, stored):
    url = f"/attachments/{stored.id}/withdraw"
    page = client.get(url)
    token = csrf_from(page.text)
    db.session.execute(text("UPDATE attachment SET version = version + 1 WHERE id = :id"), {"id": stored.id})
    db.session.commit()
    response = client.post(url, data={"csrf_token": token, "version": "1", "reason": "重复上传"})
    assert response.status_code == 409 and "重复上传" in response.text
    assert attachments()[0].withdrawn_at is None


# -- demo ---------------------------------------------------------------------------------------------
def test_demo_examples_pass_the_upload_checks_and_download(client, caseworker, person, orgs):
    assert add_examples(orgs["shelter_a"], caseworker) == 1
    db.session.commit()
    login(client, caseworker)
    stored = attachments()
    assert {a.media_type for a in stored} == {"image/jpeg", "application/pdf"}
    for attachment in stored:
        assert client.get(f"/attachments/{attachment.id}/download").status_code == 200

