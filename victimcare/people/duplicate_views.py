"""The manager's page "Possible duplicates" and the answers posted from it (duplicate_review.py)."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.exc import IntegrityError
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from .. import access, audit
from ..entries import load_person
from ..extensions import db
from ..web import page_arg
from . import duplicate_review as review
from .models import DUPLICATE_DECISIONS

duplicates_bp = Blueprint("duplicates", __name__, url_prefix="/people/duplicates")

RULE = "duplicate_review"  # access.NAMED_RULES: managers


class PairForm(FlaskForm):
    """The two files of a pair (either order) and, to answer, the decision (the button pressed)."""
    person_a = HiddenField(validators=[DataRequired(), Length(max=32)])
    person_b = HiddenField(validators=[DataRequired(), Length(max=32)])
    decision = HiddenField(validators=[Optional()])
    note = TextAreaField(_l("Note (optional)"), validators=[Optional(), Length(max=500)])


@duplicates_bp.route("/")
@access.route("identity", named=RULE)
def index():
    which = request.args.get("show") if request.args.get("show") in review.LISTS else "open"
    number, size = page_arg(), current_app.config["PAGE_SIZE"]
    pairs, total = review.page(current_user, which, number, size)
    page = render_template("people/duplicates.html", pairs=pairs, total=total, page=number,
                           pages=max(1, -(-total // size)), show=which, lists=review.LISTS,
                           decisions=DUPLICATE_DECISIONS)
    # Listed by kind and count, as the caseload is; the pairs' ids are on the page, not in the trail.
    audit.record("list", object_type="person", section="identity",
                 details={"page": "duplicates", "show": which, "results": total})
    db.session.commit()
    return page


def _posted_pair() -> tuple[str, str, PairForm]:
    """The pair named by the form, both files loaded with the scope check (404 outside it, audited),
    smaller id first. A form without two ids is a bad request."""
    form = PairForm()
    if not form.validate_on_submit() or form.person_a.data == form.person_b.data:
        abort(400)
    a, b = review.ordered(form.person_a.data, form.person_b.data)
    load_person(a, "read", "identity")
    load_person(b, "read", "identity")
    return a, b, form


def _back(which: str = "open"):
    return redirect(url_for("duplicates.index", show=which))


@duplicates_bp.route("/decide", methods=["POST"])
@access.route("identity", named=RULE)
def decide():
    a, b, form = _posted_pair()
    decision = form.decision.data
    if decision not in DUPLICATE_DECISIONS:
        abort(400)
    if not review.reasons_for(current_user, a, b):
        flash(_("These two files no longer match: nothing was recorded."), "error")
        return _back()
    try:
        review.decide(current_user, a, b, decision, form.note.data)
        db.session.commit()
    except IntegrityError:  # the same answer posted twice at once: the first made the row; change it
        db.session.rollback()
        review.decide(current_user, a, b, decision, form.note.data)
        db.session.commit()
    flash(_("Marked as not the same person.") if decision == "different"
          else _("Linked for a merge decision. Both files stay as they are."), "success")
    return _back()


@duplicates_bp.route("/undo", methods=["POST"])
@access.route("identity", named=RULE)
def undo():
    a, b, _form = _posted_pair()
    undone = review.undo(current_user, a, b)
    db.session.commit()
    if undone is None:
        flash(_("Nothing was changed."), "success")
        return _back()
    flash(_("Answer withdrawn: the pair is listed as possible duplicates again."), "success")
    return _back(undone.decision)
