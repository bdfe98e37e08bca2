"""Handover bundles: export one person's file for a partner installation, import one, manage partners."""
from __future__ import annotations

import hashlib
import types

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import access, audit
from ..auth.models import Organisation, utcnow
from ..auth.reauth import recent_auth_required
from ..choices import options
from ..disclosures.service import record_disclosure
from ..entries import load_person
from ..extensions import db
from . import bundle, transfer
from .forms import HandoverForm, ImportForm, PartnerForm

portability_bp = Blueprint("portability", __name__)

REFUSALS = {
    "malformed": _l("This is not a handover bundle, or it was changed: nothing was imported."),
    "format": _l("This bundle was made in a format this installation does not read: nothing was imported."),
    "wrong_recipient": _l("This bundle was encrypted for another installation: nothing was imported."),
    "unknown_signer": _l("This bundle is signed by an installation that is not registered as a trusted "
                         "partner: nothing was imported."),
    "bad_signature": _l("The bundle's signature does not match its content: it was changed after it was "
                        "signed. Nothing was imported."),
    "content": _l("The bundle's content cannot be read as a person's file: nothing was imported."),
    "too_large": _l("The bundle is larger than this installation accepts: nothing was imported."),
}
# Who may manage the list of trusted partner installations: a rule of access.py.
PARTNER_ROLES = access.TRANSFER_PARTNER_ROLES


def _max_bundle_bytes() -> int:
    return current_app.config.get("HANDOVER_MAX_BYTES") or current_app.config["MAX_CONTENT_LENGTH"]


@portability_bp.route("/people/<person_id>/handover", methods=["GET", "POST"])
@access.route("case", "write", person="person_id")
@recent_auth_required
def handover(person_id: str):
    """A manager's decision that the file leaves: case write (managers only), then per-section reads."""
    person = load_person(person_id, "write", "case")
    access.require(current_user, "write", person, "disclosures")
    partners = transfer.partners()
    form = HandoverForm()
    form.partner.choices = options(((p.fingerprint, f"{p.name} ({p.fingerprint[:8]})") for p in partners),
                                   blank="—")
    if form.validate_on_submit():
        partner = transfer.partner(form.partner.data)
        payload, sections = bundle.build_payload(person, current_user)
        data = transfer.seal(payload, partner.identity, transfer.installation_keys())
        digest = hashlib.sha256(data).hexdigest()
        record_disclosure(person, kind="handover_bundle", user=current_user,
                          recipient_name=f"{partner.name} ({partner.fingerprint})", sections=sections,
                          purpose=form.purpose.data, entry=types.SimpleNamespace(id=digest[:32]),
                          **form.basis_data())
        audit.record("export", object_type="person", object_id=person.id, section="disclosures",
                     details={"kind": "handover_bundle", "recipient": partner.fingerprint,
                              "sections": sections, "bundle_sha256": digest, "bytes": len(data)})
        db.session.commit()
        filename = f"handover-{person.case_number}-{utcnow():%Y%m%d}.vchb"
        return Response(data, mimetype="application/octet-stream",
                        headers={"Content-Disposition": f'attachment; filename="{filename}"'})
    if not form.is_submitted():
        audit.record("view", object_type="person", object_id=person.id, section="disclosures",
                     details={"page": "handover"})
        db.session.commit()
    return render_template("portability/handover.html", person=person, form=form, partners=partners)


def _require_manager_area(action: str) -> None:
    """Import creates a file: the role that may write the case section (a manager)."""
    if access.allowed(current_user.role, "write", "case"):
        return
    audit.record_now("denied", section="case", details={"action": action, "status": 403, "page": "handover_import"})
    abort(403)


@portability_bp.route("/portability/import", methods=["GET", "POST"])
@access.route("case", "write")
def import_bundle():
    _require_manager_area("write")
    form = ImportForm()
    organisations = access.scoped_organisations(current_user)
    form.organisation_id.choices = options((o.id, o.name) for o in organisations)
    if form.validate_on_submit():
        organisation = db.session.get(Organisation, form.organisation_id.data)
        data = form.bundle.data.stream.read(_max_bundle_bytes() + 1)
        digest = hashlib.sha256(data).hexdigest()
        try:
            if len(data) > _max_bundle_bytes():
                raise transfer.BundleRefused("too_large")
            payload, sender = transfer.open_bundle(data, transfer.installation_keys(), transfer.partners())
            person = bundle.import_payload(payload, organisation, current_user, sender=sender,
                                           bundle_digest=digest)
        except transfer.BundleRefused as exc:
            db.session.rollback()
            audit.record_now("denied", section="case", details={"action": "handover_import", "status": 422,
                                                                  "reason": str(exc), "bundle_sha256": digest})
            form.bundle.errors.append(REFUSALS[str(exc)])
            return render_template("portability/import.html", form=form), 422
        db.session.commit()
        flash(_("Imported as case %(case)s, with its history.", case=person.case_number), "success")
        return redirect(url_for("people.view", person_id=person.id))
    return render_template("portability/import.html", form=form)


def _require_partner_admin() -> None:
    if current_user.role in PARTNER_ROLES:
        return
    audit.record_now("denied", section="admin", details={"action": "write", "status": 403,
                                                         "page": "transfer_partners"})
    abort(403)


@portability_bp.route("/portability/partners", methods=["GET", "POST"])
@access.signed_in(named="transfer_partners")
def partners():
    _require_partner_admin()
    form = PartnerForm()
    if form.validate_on_submit():
        try:
            partner = transfer.register_partner(form.name.data, form.public_key.data,
                                                utcnow().isoformat(timespec="seconds"), current_user.username)
        except ValueError as exc:
            form.public_key.errors.append(
                _("This is this installation's own key.") if str(exc) == "own key"
                else _("Not an installation key: paste the whole line starting with vc1:"))
        else:
            audit.record("admin", section="admin", object_type="transfer_partner", object_id=partner.fingerprint,
                         details={"change": "register_transfer_partner"})
            db.session.commit()
            flash(_("Partner installation registered."), "success")
            return redirect(url_for("portability.partners"))
    own = transfer.installation_keys().public
    return render_template("portability/partners.html", form=form, partners=transfer.partners(), own=own)
