"""The training-and-jobs form. Messages are per field; input is kept on error."""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ..choices import MarkRequired, options
from . import rules

KIND_LABELS = {"vocational_training": _l("Vocational training"),
               "career_guidance": _l("Career guidance"),
               "job_referral": _l("Job referral"), "employment": _l("Employment")}
PLACE_LABELS = {"local": _l("Local"), "elsewhere": _l("In another place")}
OUTCOME_LABELS = {"ongoing": _l("Ongoing"), "completed": _l("Completed"), "employed": _l("Employed"),
                  "discontinued": _l("Discontinued")}
AGE_MESSAGES = {
    # %(age)d is rules.MINIMUM_AGE (formatted in validate_start_date: the number lives in one place).
    "too_young": _l("On the start date the person is under %(age)d: training and job services are for people "
                    "%(age)d or older."),
    "not_certain": _l("Only an estimated birth year is recorded: the person is certainly %(age)d only from "
                      "%(date)s. Record the date of birth in the identity section, or use a later start date."),
    "age_unknown": _l("The person's age is not recorded: the identity section needs a date of birth or an "
                      "estimated age first."),
}
_DATE_MESSAGES = {"end_before_start": _l("The end date is before the start date."),
                  "end_required": _l("A finished service needs its end date.")}


def not_in_future(form, field):
    if field.data and field.data > dt.date.today():
        raise ValidationError(_l("This date is in the future."))


class EmploymentForm(FlaskForm):
    version = HiddenField()
    kind = SelectField(_l("Service"), choices=options(KIND_LABELS, blank="—"),
                       validators=[DataRequired(_l("Choose the service."))])
    wish_confirmed = BooleanField(_l("The person wishes to take part"), validators=[MarkRequired()],
                                  description=_l("Services follow the person's own wish (Jiangsu 2021–2030 "
                                                 "二(三)2(2))."))
    provider = StringField(_l("Employer or training provider"), validators=[Optional(), Length(max=200)])
    place = SelectField(_l("Where"), choices=options(PLACE_LABELS), validators=[MarkRequired()])
    start_date = DateField(_l("Start date"), validators=[InputRequired(_l("Give the start date.")), not_in_future],
                           description=_l(
                               "Training and job services are for people %(age)d or older on this date: the plans "
                               "offer them to rescued young people of %(age)d and over (State Council 2008–2012 "
                               "plan 四(四)2(2)), the minimum working age of the Labour Law (art. 15). With only an "
                               "estimated year of birth, the person counts as %(age)d from 31 December of that year "
                               "plus %(age)d.", age=rules.MINIMUM_AGE))
    end_date = DateField(_l("End date"), validators=[Optional()])
    outcome = SelectField(_l("Outcome"), choices=options(OUTCOME_LABELS), validators=[MarkRequired()])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=4000)])

    def __init__(self, *args, person=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.person = person

    def validate_wish_confirmed(self, field):
        if not field.data:
            raise ValidationError(_l("Record a service only with the person's wish: confirm it."))

    def validate_start_date(self, field):
        if field.data is None:  # not a date: the field already says so (WTForms runs the chain anyway)
            return
        problem = rules.age_problem(self.person, field.data)
        if problem:
            date = rules.certain_from(self.person.birth_year).isoformat() if problem == "not_certain" else ""
            raise ValidationError(AGE_MESSAGES[problem] % {"date": date, "age": rules.MINIMUM_AGE})

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        # Here, not in validate_end_date: Optional() stops the field's own chain when it is empty.
        if not (self.start_date.errors or self.end_date.errors or self.outcome.errors):
            problem = rules.dates_problem(self.start_date.data, self.end_date.data, self.outcome.data)
            if problem:
                self.end_date.errors.append(_DATE_MESSAGES[problem])
                ok = False
        return ok
