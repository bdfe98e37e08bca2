"""Ledger pages and their printouts/exports: the medical self-pay ledger (page, XLSX, PDF) and the
school enrolment ledger (XLSX, PDF of the page /schooling/ledger).

Who reads what, and why there are case numbers but no names: see reports/ledgers.py. These are
aggregate finance and school registers, not identified disclosures (no Disclosure row); every print
and export is an audit row (action print/export; details: ledger, period, hospital id, row count)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from .. import access, audit
from ..auth.reauth import recent_auth_required
from ..choices import options
from ..extensions import db
from . import ledgers
from .export import to_xlsx
from .pdf import render_pdf
from .stats_forms import dates_given
from .summary import local_now

ledgers_bp = Blueprint("ledgers", __name__, url_prefix="/ledgers")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def money(value) -> str:
    """Decimal to text with two decimals and thousands separators, without passing through float."""
    return "{:,.2f}".format(value)


class MedicalLedgerForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
    hospital = SelectField(_l("Hospital"), validate_choice=False)

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators) and dates_given(self.date_from, self.date_to)
        start, end = self.date_from.data, self.date_to.data
        if ok and end < start:
            self.date_to.errors.append(_l("The end of the period is before its start."))
            ok = False
        elif ok and (end - start).days > 366 * ledgers.MAX_YEARS:
            self.date_to.errors.append(_l("The period can be at most %(years)d years.", years=ledgers.MAX_YEARS))
            ok = False
        return ok


# -- the medical self-pay ledger ----------------------------------------------------------------------
def _refuse(ledger: str, section: str, **details):
    audit.record_now("denied", object_type="ledger", object_id=ledger, section=section,
                     details={"action": "read", "status": 403, **details})
    abort(403)


def _medical_request():
    """(form, ledger or None): the filters of the request checked, the ledger built. A hospital the
    user may not list is refused (403, audited); a bad period leaves the ledger None."""
    if not ledgers.may_read_medical(current_user):
        _refuse("medical", "medical")
    hospitals = ledgers.hospitals_for(current_user)
    by_id = {str(h.id): h for h in hospitals}
    asked = request.args.get("hospital", "").strip()
    if asked and asked not in by_id:
        _refuse("medical", "medical", hospital=asked[:20])
    form = MedicalLedgerForm(request.args)
    form.hospital.choices = options(((str(h.id), h.name) for h in hospitals), blank=_("All hospitals"))
    default = ledgers.this_month(dt.date.today())
    for date_field, value in ((form.date_from, default.start), (form.date_to, default.end)):
        if not "".join(date_field.raw_data or ()).strip():  # absent, empty or blank: this calendar month
            date_field.data = value
    if not form.validate():
        return form, None
    period = ledgers.Period(form.date_from.data, form.date_to.data)
    try:
        return form, ledgers.medical_ledger(current_user, period, by_id.get(asked))
    except ledgers.TooManyRows as error:
        form.form_errors.append(_("%(count)d visits: too many for one ledger. Choose a shorter period or one "
                                  "hospital.", count=error.count))
        return form, None


def _args(ledger) -> dict:
    args = ledger.period.details()
    if ledger.hospital is not None:
        args["hospital"] = ledger.hospital.id
    return args


def _filename(ledger, ext: str) -> str:
    hospital = f"-h{ledger.hospital.id}" if ledger.hospital else ""
    return f"medical-ledger-{ledger.period.start.isoformat()}-{ledger.period.end.isoformat()}{hospital}.{ext}"


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                                      "Cache-Control": "no-store"})


@ledgers_bp.route("/medical")
@access.signed_in(named="medical_ledger")
def medical():
    form, ledger = _medical_request()
    if ledger is None:
        return render_template("ledgers/medical.html", form=form, ledger=None), 400
    audit.record("view", object_type="ledger", object_id="medical", section="medical",
                 details=ledger.audit_details())
    db.session.commit()
    return render_template("ledgers/medical.html", form=form, ledger=ledger, args=_args(ledger), money=money)


def _medical_labels() -> dict:
    from ..medical.forms import VISIT_TYPE_LABELS
    return {"hospital": _("Hospital"), "date": _("Visit date"), "case_number": _("Case number"),
            "visit_type": _("Type of care"), "total_cost": _("Total cost"),
            "insurance_paid": _("Paid by basic medical insurance"), "self_pay": _("Self-pay borne by finance"),
            "visit_types": VISIT_TYPE_LABELS, "subtotal": _("Subtotal (%(count)d visits)"),
            "grand_total": _("Grand total"), "grand_total_count": _("Grand total (%(count)d visits)")}


def _about(ledger, title: str) -> tuple[list, list]:
    who = current_user.display_name or current_user.username
    return [_("Item"), _("Value")], [
        [_("Ledger"), title],
        [_("Period"), f"{ledger.period.start.isoformat()} – {ledger.period.end.isoformat()} "
                      + _("(both days included)")],
        [_("Hospital"), ledger.hospital.name if ledger.hospital else _("All hospitals")],
        [_("Visits"), ledger.count],
        [_("Exported by"), who], [_("Exported at"), local_now().strftime("%Y-%m-%d %H:%M")],
        [_("Note"), _("Case numbers only, no names. Amounts in yuan.")]]


@ledgers_bp.route("/medical.xlsx")
@access.signed_in(named="medical_ledger")
@recent_auth_required
def medical_xlsx():
    form, ledger = _medical_request()
    if ledger is None:
        abort(400)
    title = _("Medical self-pay ledger")
    sheet = _("Ledger")
    body = to_xlsx({sheet: ledgers.medical_table(ledger, _medical_labels()), _("About"): _about(ledger, title)})
    body = ledgers.money_columns(body, sheet, (4, 5, 6))
    audit.record("export", object_type="ledger", object_id="medical", section="medical",
                 details=ledger.audit_details(format="xlsx"))
    db.session.commit()
    return _download(body, XLSX, _filename(ledger, "xlsx"))


@ledgers_bp.route("/medical.pdf")
@access.signed_in(named="medical_ledger")
@recent_auth_required
def medical_pdf():
    form, ledger = _medical_request()
    if ledger is None:
        abort(400)
    html = render_template("pdf/ledger_medical.html", ledger=ledger, money=money,
                           printer=current_user.display_name or current_user.username,
                           printed_at=local_now().strftime("%Y-%m-%d %H:%M"),
                           purpose=_("settlement of the self-pay share with finance"))
    body = render_pdf(html)
    audit.record("print", object_type="ledger", object_id="medical", section="medical",
                 details=ledger.audit_details())
    db.session.commit()
    return _download(body, "application/pdf", _filename(ledger, "pdf"))


# -- the school enrolment ledger (the page is schooling.ledger) ----------------------------------------
def _school_rows():
    access.require_area(current_user, "read", "schooling")  # exactly as the page: 403, audited
    try:
        return ledgers.school_rows(current_user)
    except ledgers.TooManyRows:
        abort(400)


def _school_details(rows, **extra) -> dict:
    return {"ledger": "school", "date_from": None, "date_to": None, "hospital_id": None, "rows": len(rows),
            **extra}


def school_table(rows) -> tuple[list, list]:
    from ..people.forms import SEX_LABELS
    from ..people.rules import age_band
    from ..schooling.forms import GRADE_LABELS, STEP_LABELS
    year = dt.date.today().year
    header = [_("Education office"), _("Case number"), _("Sex"), _("Age"), _("School"), _("School grade"),
              _("Enrolment date"), _("Transfer procedures"), _("Transfer date"),
              _("Student-record continuation"), _("Record date")]
    table = []
    for e in rows:
        p = e.person
        table.append([e.office.name, p.case_number, str(SEX_LABELS.get(p.sex, p.sex or "")),
                      (age_band(year - p.birth_year) if p.birth_year else None) or "", e.school_name or "",
                      str(GRADE_LABELS.get(e.grade, e.grade)), e.enrolment_date.isoformat(),
                      str(STEP_LABELS.get(e.transfer_state, e.transfer_state)),
                      e.transfer_date.isoformat() if e.transfer_date else "",
                      str(STEP_LABELS.get(e.record_state, e.record_state)),
                      e.record_date.isoformat() if e.record_date else ""])
    return header, table


@ledgers_bp.route("/school.xlsx")
@access.route("schooling")
@recent_auth_required
def school_xlsx():
    rows = _school_rows()
    body = to_xlsx({_("School placement ledger"): school_table(rows)})
    audit.record("export", object_type="ledger", object_id="school", section="schooling",
                 details=_school_details(rows, format="xlsx"))
    db.session.commit()
    return _download(body, XLSX, f"school-ledger-{dt.date.today().isoformat()}.xlsx")


@ledgers_bp.route("/school.pdf")
@access.route("schooling")
@recent_auth_required
def school_pdf():
    rows = _school_rows()
    html = render_template("pdf/ledger_school.html", rows=rows, today=dt.date.today(),
                           printer=current_user.display_name or current_user.username,
                           printed_at=local_now().strftime("%Y-%m-%d %H:%M"),
                           purpose=_("school placement ledger"))
    body = render_pdf(html)
    audit.record("print", object_type="ledger", object_id="school", section="schooling",
                 details=_school_details(rows))
    db.session.commit()
    return _download(body, "application/pdf", f"school-ledger-{dt.date.today().isoformat()}.pdf")
