"""The "case" section: a file's open/closed status, closed and reopened by a manager with a reason
(DOMAIN.md 9; closed files stay readable and are never deleted). Caseworkers read it."""
from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from .. import access, audit
from ..entries import describe_latest_change, load_person
from ..extensions import db
from ..sections import FileSection, register
from . import service
from .forms import CaseReasonForm
from .models import CaseStatusChange
from .views import ERRORS, followups_bp


def _summary(person):
    history = service.status_history(person)
    return {"status": person.status, "last": history[0] if history else None}


register(FileSection("case", _l("Case status"), "followups.case", order=95,
                     summary_template="followups/_case_summary.html", load=_summary,
                     rows_in=(CaseStatusChange,), empty=lambda person: {"status": person.status, "last": None}))


@followups_bp.route("/people/<person_id>/case")
@access.route("case", person="person_id")
def case(person_id: str):
    person = load_person(person_id, "read", "case")
    audit.record("view", object_type="person", object_id=person.id, section="case")
    db.session.commit()
    return render_template("followups/case.html", person=person, history=service.status_history(person))


def _reason_page(person, form, action: str):
    title = _("Close the file") if action == "close" else _("Reopen the file")
    return render_template("followups/reason.html", person=person, form=form, action=action, title=title)


def _change_status(person_id: str, action: str):
    person = load_person(person_id, "write", "case")
    wanted = "open" if action == "close" else "closed"
    form = CaseReasonForm()
    if not form.is_submitted():
        if person.status != wanted:
            flash(ERRORS["already_closed" if action == "close" else "not_closed"], "error")
            return redirect(url_for("followups.case", person_id=person.id))
        form.expected_status.data = person.status
    elif form.validate():
        # The form says what status the manager saw; someone else may have changed it meanwhile.
        if form.expected_status.data != person.status or person.status != wanted:
            form.form_errors.append(_("Someone else closed or reopened this file after you opened the form. "
                                      "Your input is kept below; check the file's status first."))
            form.form_errors.extend(filter(None, [describe_latest_change(person, form)]))
            form.expected_status.data = person.status
            return _reason_page(person, form, action), 409
        try:
            (service.close_file if action == "close" else service.reopen_file)(person, form.reason.data,
                                                                               current_user)
            db.session.commit()
        except service.FollowupError as exc:
            db.session.rollback()
            form.reason.errors.append(ERRORS[exc.key])
        except StaleDataError:
            db.session.rollback()
            form.form_errors.append(_("Someone else changed this file at the same moment. Try again."))
            return _reason_page(person, form, action), 409
        else:
            flash(_("File closed.") if action == "close" else _("File reopened."), "success")
            return redirect(url_for("followups.case", person_id=person.id))
    return _reason_page(person, form, action)


@followups_bp.route("/people/<person_id>/close", methods=["GET", "POST"])
@access.route("case", "write", person="person_id")
def close(person_id: str):
    return _change_status(person_id, "close")


@followups_bp.route("/people/<person_id>/reopen", methods=["GET", "POST"])
@access.route("case", "write", person="person_id")
def reopen(person_id: str):
    return _change_status(person_id, "reopen")
