"""Printing: a person's case summary (full or de-identified), batches from the caseload, and the
residence registration application. Every print is audited; nothing is cached by the browser."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from .. import access, audit
from ..auth.reauth import recent_auth_required
from ..choices import options
from ..crypto import plausible_row_id
from ..disclosures import service as disclosures
from ..entries import load_entry, load_person
from ..extensions import db
from ..people import service as people
from ..people.forms import CaseloadFilterForm
from ..placements.models import ResidenceApplication
from . import pdf, summary
from .forms import BatchForm, PrintForm

reports_bp = Blueprint("reports", __name__)


def pdf_response(content: bytes, filename: str):
    response = make_response(content)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


# -- one person ---------------------------------------------------------------------------------------
@reports_bp.route("/people/<person_id>/print", methods=["GET", "POST"])
@access.route("summary", person="person_id")
def print_person(person_id: str):
    person = load_person(person_id, "read", "summary")
    form = PrintForm()
    sections = summary.readable_sections(current_user, person)
    may_disclose = access.can(current_user, "write", person, "disclosures")
    if form.validate_on_submit():
        identified_handover = form.for_agency.data and form.variant.data == "full"
        if identified_handover and not may_disclose:
            form.for_agency.errors.append(_("Only the caseworker or manager of the file may give an identified "
                                            "printout to another agency."))
        else:
            return _print(person, form, identified_handover)
    return render_template("reports/print_form.html", form=form, person=person, sections=sections,
                           may_disclose=may_disclose), (200 if request.method == "GET" else 400)


def _print(person, form, identified_handover: bool):
    purpose = form.purpose.data.strip()
    content, sections, pages = summary.render_summary(person, current_user, variant=form.variant.data,
                                                      purpose=purpose)
    if identified_handover:
        try:
            disclosures.record_disclosure(person, kind="identified_print", user=current_user,
                                          recipient_name=form.recipient_name.data, sections=sections,
                                          purpose=purpose, **form.basis_data())
        except disclosures.DisclosureRefused:  # the form checks the same rule: this is a second lock
            db.session.rollback()
            abort(400)
    summary.audit_print(person, variant=form.variant.data, sections=sections, pages=pages, purpose=purpose,
                        for_agency=bool(form.for_agency.data))
    db.session.commit()
    suffix = "" if form.variant.data == "full" else "-deidentified"
    return pdf_response(content, f"{person.case_number}{suffix}.pdf")


# -- batches from the caseload ------------------------------------------------------------------------
def _caseload_filters(args):
    """The caseload's own filter form, so a batch selects exactly the people the list shows."""
    form = CaseloadFilterForm(args)
    form.organisation_id.choices = options(((o.id, o.name) for o in access.scoped_organisations(current_user)),
                                           blank="")
    if not form.validate():
        abort(400)
    return {k: v for k, v in form.data.items() if v not in (None, "") and k != "csrf_token"}


def _batch_query(args):
    return people.caseload_query(current_user, _caseload_filters(args))


@reports_bp.route("/print/batch", methods=["GET", "POST"])
@access.route("identity")
@recent_auth_required
def batch():
    access.require(current_user, "read", None, "identity")
    form = BatchForm()
    raw = form.filters.data if request.method == "POST" else urlencode(list(request.args.items(multi=True)))
    query = _batch_query(MultiDict(parse_qsl(raw or "")))
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    too_many = total > summary.BATCH_LIMIT
    if request.method == "GET":
        form.filters.data = raw
    elif form.validate_on_submit() and not too_many and total:
        from ..people.models import Person
        ids = db.session.scalars(query.with_only_columns(Person.id)
                                 .order_by(Person.created_at.desc(), Person.id.desc())).all()
        job = summary.create_job(current_user, list(ids), variant=form.variant.data, purpose=form.purpose.data.strip())
        db.session.commit()
        return redirect(url_for("reports.batch_job", job_id=job.id))
    return render_template("reports/batch_form.html", form=form, total=total, too_many=too_many,
                           limit=summary.BATCH_LIMIT), (200 if request.method == "GET" else 400)


def _own_job(job_id: str):
    job = summary.lock_job(job_id) if plausible_row_id(job_id) else None
    if job is None or job.user_id != current_user.id:
        audit.record_now("denied", object_type="print_job", object_id=job_id, details={"status": 404})
        abort(404)
    return job


@reports_bp.route("/print/jobs/<job_id>")
@access.route("identity")
def batch_job(job_id: str):
    """Each visit renders the next few people; the page refreshes itself until the job is done."""
    job = _own_job(job_id)
    if job.done < job.total:
        summary.run_chunk(job, current_user)
    db.session.commit()
    response = make_response(render_template("reports/batch_job.html", job=job))
    if job.done < job.total:  # base.html has no head block: the Refresh header does what a <meta> would
        response.headers["Refresh"] = "1"
    return response


@reports_bp.route("/print/jobs/<job_id>.pdf")
@access.route("identity")
def batch_pdf(job_id: str):
    job = _own_job(job_id)
    if job.done < job.total or not job.pages:
        db.session.rollback()
        return redirect(url_for("reports.batch_job", job_id=job.id))
    content = summary.job_pdf(job)
    audit.record("print", object_type="print_job", object_id=job.id,
                 details={"variant": job.variant, "people": job.total, "pages": job.pages, "download": True})
    db.session.commit()
    return pdf_response(content, f"batch-{job.created_at:%Y%m%d-%H%M}.pdf")


# -- the residence registration application -----------------------------------------------------------
@reports_bp.route("/residence/applications/<application_id>.pdf")
@access.route("residence", person="application_id")
def residence_application_pdf(application_id: str):
    application, person = load_entry(ResidenceApplication, application_id, "read", "residence")
    html = summary.application_html(application, person, current_user)
    document = pdf.render_document(html)
    content = document.write_pdf()
    audit.record("print", object_type="person", object_id=person.id, section="residence",
                 details={"document": "residence_application", "entry": application.id,
                          "pages": len(document.pages)})
    db.session.commit()
    return pdf_response(content, f"{person.case_number}-residence-application.pdf")
