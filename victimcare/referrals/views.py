"""Referral pages: a person's referrals, refer, the partner's work list, accept/decline, close."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import bindparam, select
from sqlalchemy.orm import lazyload
from sqlalchemy.orm.exc import StaleDataError

from .. import access, audit
from ..auth.forms import ORG_KIND_LABELS, ButtonForm
from ..auth.models import Organisation
from ..choices import options
from ..crypto import plausible_row_id
from ..disclosures.service import DisclosureRefused
from ..entries import CONFLICT_MESSAGE, load_entry, load_person, mark_conflict
from ..extensions import db
from ..sections import FileSection, prepared, register
from . import service
from .forms import ReasonForm, ReferralForm
from .models import Referral

referrals_bp = Blueprint("referrals", __name__)

STATUS_LABELS = {"pending": _l("Awaiting the partner"), "active": _l("Active"),
                 "declined": _l("Declined"), "closed": _l("Closed")}
SECTION_LABELS = {"medical": _l("Medical care"), "dna": _l("Identity checks and DNA"),
                  "schooling": _l("School"), "legal": _l("Legal aid"), "employment": _l("Training and jobs")}
_ERRORS = {"not_a_partner": _l("This organisation does not take referrals."),
           "already_referred": _l("This person is already referred to this organisation.")}


def _summary(person):
    # The person is the one on the page (already in the session): not joined again into every row.
    return {"referrals": db.session.scalars(prepared(_summary_query), {"person_id": person.id}).all()}


def _summary_query():
    return (select(Referral).where(Referral.person_id == bindparam("person_id"))
            .options(lazyload(Referral.person)).order_by(Referral.created_at.desc()))


register(FileSection("referrals", _l("Referrals"), "referrals.for_person", order=80,
                     summary_template="referrals/_summary.html", load=_summary,
                     rows_in=(Referral,), empty=lambda person: {"referrals": []}))


@referrals_bp.app_context_processor
def _labels():
    return {"referral_status_labels": STATUS_LABELS, "referral_section_labels": SECTION_LABELS}


@referrals_bp.route("/people/<person_id>/referrals", methods=["GET", "POST"])
@access.route("referrals", person="person_id", post="write")
def for_person(person_id: str):
    person = load_person(person_id, "read", "referrals")
    can_refer = access.can(current_user, "write", person, "referrals") and person.status == "open"
    form = ReferralForm()
    partners = service.partner_organisations()
    form.organisation_id.choices = options((o.id, f"{o.name}（{ORG_KIND_LABELS[o.kind]}）") for o in partners)
    if form.is_submitted():
        access.require(current_user, "write", person, "referrals")
        if person.status != "open":
            abort(409)
        if form.validate():
            try:
                service.refer(person, db.session.get(Organisation, form.organisation_id.data),
                              form.purpose.data, current_user, **form.basis_data())
            except service.ReferralError as exc:
                db.session.rollback()
                form.organisation_id.errors.append(_ERRORS[str(exc)])
            except DisclosureRefused:  # the form validated the basis already; kept for safety
                db.session.rollback()
                form.basis.errors.append(_("Record the consent, or the legal basis for disclosing without it."))
            else:
                db.session.commit()
                flash(_("Referred. The partner sees the referral in their work list."), "success")
                return redirect(url_for("referrals.for_person", person_id=person.id))
    else:
        audit.record("view", object_type="person", object_id=person.id, section="referrals")
        db.session.commit()
    rows = _summary(person)["referrals"]
    return render_template("referrals/for_person.html", person=person, referrals=rows, form=form,
                           can_refer=can_refer, button=ButtonForm(), reason_form=ReasonForm())


def _load_own_referral(referral_id: str) -> Referral:
    """A partner acting on a referral to their own organisation."""
    referral = db.session.get(Referral, referral_id) if plausible_row_id(referral_id) else None
    if referral is None or access.SCOPE.get(current_user.role) != "referral" \
            or referral.organisation_id != current_user.organisation_id:
        audit.record_now("denied", object_type="referral", object_id=referral_id, section="referrals",
                         details={"status": 404})
        abort(404)
    return referral


@referrals_bp.route("/referrals/<referral_id>/accept", methods=["POST"])
@access.signed_in(named="referral_partner")
def accept(referral_id: str):
    referral = _load_own_referral(referral_id)
    if ButtonForm().validate_on_submit() and referral.status == "pending":
        try:
            service.accept(referral, current_user)
            db.session.commit()
        except StaleDataError:  # a colleague answered it at the same moment: their answer stands
            db.session.rollback()
            flash(CONFLICT_MESSAGE, "error")
        else:
            flash(_("Accepted. You can now work on this person's %(section)s section.",
                    section=SECTION_LABELS[referral.section]), "success")
    return redirect(url_for("referrals.work_list"))


@referrals_bp.route("/referrals/<referral_id>/decline", methods=["GET", "POST"])
@access.signed_in(named="referral_partner")
def decline(referral_id: str):
    referral = _load_own_referral(referral_id)
    form = ReasonForm()
    title = _("Decline the referral")
    if referral.status != "pending":  # answered meanwhile: say so, and keep the reason typed
        if form.is_submitted():
            return _conflict(form, referral, title)
        return redirect(url_for("referrals.work_list"))
    if form.validate_on_submit():
        try:
            service.decline(referral, form.reason.data, current_user)
            db.session.commit()
        except StaleDataError:
            return _conflict(form, referral, title)
        flash(_("Declined. The caseworker sees your reason."), "success")
        return redirect(url_for("referrals.work_list"))
    return render_template("referrals/reason.html", form=form, referral=referral, title=title)


@referrals_bp.route("/referrals/<referral_id>/close", methods=["GET", "POST"])
@access.route("referrals", "write", person="referral_id")
def close(referral_id: str):
    referral, person = load_entry(Referral, referral_id, "write", "referrals")
    form = ReasonForm()
    title = _("Close the referral")
    if not referral.live:  # closed or declined meanwhile: say so, and keep the reason typed
        if form.is_submitted():
            return _conflict(form, referral, title)
        return redirect(url_for("referrals.for_person", person_id=person.id))
    if form.validate_on_submit():
        try:
            service.close(referral, form.reason.data, current_user)
            db.session.commit()
        except StaleDataError:
            return _conflict(form, referral, title)
        flash(_("Referral closed: the partner's access ended."), "success")
        return redirect(url_for("referrals.for_person", person_id=person.id))
    return render_template("referrals/reason.html", form=form, referral=referral, title=title)


def _conflict(form, referral, title):
    """Someone answered or closed the referral after this form was opened: nothing saved, 409."""
    referral = mark_conflict(form, Referral, referral, {"status": (_("Status"), STATUS_LABELS)})
    return render_template("referrals/reason.html", form=form, referral=referral, title=title), 409


@referrals_bp.route("/referrals/")
@access.signed_in(named="referral_work_list")
def work_list():
    if access.SCOPE.get(current_user.role) == "referral":
        rows = service.work_list(current_user)
        mode = "partner"
    elif access.allowed(current_user.role, "read", "referrals"):
        rows = service.awaiting_partner(current_user)
        mode = "caseworker"
    else:
        access.require_area(current_user, "read", "referrals")
    audit.record("list", object_type="referral", section="referrals", details={"results": len(rows)})
    db.session.commit()
    return render_template("referrals/work_list.html", referrals=rows, mode=mode, button=ButtonForm())
