"""The legal-aid form. Messages are per field; input is kept on error."""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ..choices import MarkRequired, options
from . import rules

MATTER_LABELS = {"victim_representation": _l("Criminal victim representation"),
                 "compensation": _l("Compensation claim"),
                 "custody": _l("Guardianship and custody"), "other": _l("Other")}
STATUS_LABELS = {"applied": _l("Applied"), "accepted": _l("Accepted"), "in_progress": _l("In progress"),
                 "concluded": _l("Concluded"), "refused": _l("Refused"), "withdrawn": _l("Withdrawn")}
_MESSAGES = {
    "outcome_required": _l("A concluded matter needs its outcome."),
    "outcome_date_required": _l("A concluded matter needs the date of its outcome."),
    "outcome_too_early": _l("An outcome is given: set the status to concluded (or refused/withdrawn), "
                            "or clear the outcome."),
    "before_application": _l("The outcome date is before the application date."),
}


def not_in_future(form, field):
    if field.data and field.data > dt.date.today():
        raise ValidationError(_l("This date is in the future."))


class LegalAidForm(FlaskForm):
    version = HiddenField()
    application_date = DateField(_l("Application date"),
                                 validators=[InputRequired(_l("Give the application date.")), not_in_future])
    agency_id = SelectField(_l("Legal-aid agency"), coerce=int, validate_choice=True, validators=[MarkRequired()])
    lawyer_name = StringField(_l("Lawyer"), validators=[Optional(), Length(max=100)])
    green_channel = BooleanField(_l("Green channel"),
                                 description=_l("Handled through the legal-aid green channel for trafficking "
                                                "victims (Jiangsu 2021–2030 二(三)1(7))."))
    matter = SelectField(_l("Matter"), choices=options(MATTER_LABELS, blank="—"),
                         validators=[DataRequired(_l("Choose the matter."))])
    details = TextAreaField(_l("Details"), validators=[Optional(), Length(max=4000)])
    status = SelectField(_l("Status"), choices=options(STATUS_LABELS), validate_choice=False,
                         validators=[MarkRequired()])
    outcome = TextAreaField(_l("Outcome"), validators=[Optional(), Length(max=4000)])
    outcome_date = DateField(_l("Outcome date"), validators=[Optional(), not_in_future])

    def __init__(self, *args, current_status: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.current_status = current_status
        self.status.choices = options((s, STATUS_LABELS[s]) for s in rules.allowed_next(current_status))

    def validate_status(self, field):
        if field.data not in rules.allowed_next(self.current_status):
            raise ValidationError(_l("This status cannot follow %(current)s.",
                                     current=STATUS_LABELS.get(self.current_status, "—")))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if self.status.errors:
            return False
        problems = rules.outcome_problems(self.status.data, (self.outcome.data or "").strip(),
                                          self.outcome_date.data, self.application_date.data)
        for name, key in problems.items():
            field = getattr(self, name)
            if not field.errors:
                field.errors.append(_MESSAGES[key])
        return ok and not problems
