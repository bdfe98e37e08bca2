"""Attachment pages: a person's photos and documents, add one, download one, withdraw one.

Written by caseworkers, read by caseworkers and managers in scope (access.POLICY "attachments").
A download is served as a file to save, never as a page: the type sniffed at upload, nosniff, a
sandboxing Content-Security-Policy and no caching; every download is in the audit trail."""
from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from .. import access, audit
from ..crypto import plausible_row_id
from ..entries import StaleEdit, load_person, mark_conflict, require_open
from ..extensions import db
from ..sections import FileSection, register
from . import service
from .content import content_disposition
from .forms import KIND_LABELS, UploadForm, WithdrawForm
from .models import Attachment

attachments_bp = Blueprint("attachments", __name__)
SECTION = service.SECTION


def _summary(person):
    entries = service.entries_of(person)
    photo = next((a for a in entries if a.kind == "photo" and a.is_image), None)
    return {"entries": entries, "photo": photo}


register(FileSection(SECTION, _l("Photos and documents"), "attachments.for_person", order=15,
                     summary_template="attachments/_summary.html", load=_summary,
                     rows_in=(Attachment,), empty=lambda person: {"entries": [], "photo": None}))


@attachments_bp.app_context_processor
def _labels():
    return {"attachment_kinds": KIND_LABELS}


def _load(attachment_id: str, action: str):
    """The attachment and its person, with the person's checks (404 outside scope, 403 a forbidden
    section, both audited). A withdrawn attachment is gone for every purpose but the history."""
    attachment = db.session.get(Attachment, attachment_id) if plausible_row_id(attachment_id) else None
    if attachment is None:
        abort(404)
    person = load_person(attachment.person_id, action, SECTION)
    if attachment.withdrawn_at is not None:
        abort(404)
    return attachment, person


@attachments_bp.route("/people/<person_id>/attachments")
@access.route(SECTION, "read", person="person_id")
def for_person(person_id: str):
    person = load_person(person_id, "read", SECTION)
    audit.record("view", object_type="person", object_id=person.id, section=SECTION)
    db.session.commit()
    return render_template("attachments/for_person.html", person=person, entries=service.entries_of(person),
                           can_write=access.can(current_user, "write", person, SECTION) and person.status == "open")


@attachments_bp.route("/people/<person_id>/attachments/new", methods=["GET", "POST"])
@access.route(SECTION, "write", person="person_id")
def new(person_id: str):
    person = load_person(person_id, "write", SECTION)
    require_open(person)
    form = UploadForm()
    if form.validate_on_submit():
        service.add(person, form.kind.data, form.description.data, form.display_name, form.checked, current_user)
        db.session.commit()
        flash(_("Attachment added."), "success")
        return redirect(url_for("attachments.for_person", person_id=person.id))
    return render_template("attachments/upload.html", form=form, person=person)


def _send(attachment: Attachment, *, inline: bool):
    data, media_type, name = service.read_for_download(attachment, inline=inline)
    db.session.commit()
    response = send_file(io.BytesIO(data), mimetype=media_type, conditional=False, etag=False, max_age=0)
    response.headers["Content-Disposition"] = content_disposition("inline" if inline else "attachment", name)
    # Even if a browser were talked into rendering it, nothing in it may run or reach this site.
    response.headers["Content-Security-Policy"] = "sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Cache-Control"] = "no-store"
    return response


@attachments_bp.route("/attachments/<attachment_id>/download")
@access.route(SECTION, "read", person="attachment_id")
def download(attachment_id: str):
    attachment, _person = _load(attachment_id, "read")
    return _send(attachment, inline=False)


@attachments_bp.route("/attachments/<attachment_id>/image")
@access.route(SECTION, "read", person="attachment_id")
def image(attachment_id: str):
    """A photo shown in the file (an <img>): images only, with the same checks as a download."""
    attachment, _person = _load(attachment_id, "read")
    if not attachment.is_image:
        abort(404)
    return _send(attachment, inline=True)


@attachments_bp.route("/attachments/<attachment_id>/withdraw", methods=["GET", "POST"])
@access.route(SECTION, "write", person="attachment_id")
def withdraw(attachment_id: str):
    attachment, person = _load(attachment_id, "write")
    require_open(person)
    form = WithdrawForm(data=None if request.method == "POST" else {"version": attachment.version})
    if form.validate_on_submit():
        try:
            service.withdraw(attachment, form.reason.data, current_user, form.version.data)
            db.session.commit()
        except (StaleEdit, StaleDataError):
            mark_conflict(form, Attachment, attachment_id)
            return render_template("attachments/withdraw.html", form=form, person=person,
                                   attachment=attachment), 409
        flash(_("Attachment withdrawn."), "success")
        return redirect(url_for("attachments.for_person", person_id=person.id))
    return render_template("attachments/withdraw.html", form=form, person=person, attachment=attachment)
