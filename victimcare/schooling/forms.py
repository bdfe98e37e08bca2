"""The school re-entry form. Messages are per field; input is kept on error."""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from ..choices import options
from . import rules

GRADE_LABELS = {"p1": _l("Primary 1"), "p2": _l("Primary 2"), "p3": _l("Primary 3"), "p4": _l("Primary 4"),
                "p5": _l("Primary 5"), "p6": _l("Primary 6"), "j1": _l("Junior secondary 1"),
                "j2": _l("Junior secondary 2"), "j3": _l("Junior secondary 3"),
                "s1": _l("Senior secondary 1"), "s2": _l("Senior secondary 2"), "s3": _l("Senior secondary 3"),
                "v1": _l("Vocational secondary 1"), "v2": _l("Vocational secondary 2"),
                "v3": _l("Vocational secondary 3"), "special": _l("Special education")}
STEP_LABELS = {"not_needed": _l("Not needed"), "pending": _l("Pending"), "done": _l("Done")}
AGE_MESSAGES = {
    # The ages come from rules.FIRST_AGE and LAST_AGE (formatted in validate_enrolment_date).
    "too_young": _l("On this date the child is younger than %(first)d: not yet of school age."),
    "too_old": _l("On this date the person is %(adult)d or older: the school ledger is for children of school "
                  "age (%(first)d to %(last)d)."),
    "age_unknown": _l("The person's age is not recorded: the identity section needs a date of birth or an "
                      "estimated age first."),
}
_STEP_MESSAGES = {"date_required": _l("Give the date this was done."),
                  "date_without_done": _l("A date is given: set the state to done, or clear the date.")}


def not_in_future(form, field):
    if field.data and field.data > dt.date.today():
        raise ValidationError(_l("This date is in the future."))


class SchoolForm(FlaskForm):
    version = HiddenField()
    school_name = StringField(_l("School"), validators=[InputRequired(_l("Give the school.")), Length(max=200)])
    grade = SelectField(_l("School grade"), choices=options(GRADE_LABELS, blank="—"),
                        validators=[DataRequired(_l("Choose the grade."))])
    enrolment_date = DateField(_l("Enrolment date"),
                               validators=[InputRequired(_l("Give the enrolment date.")), not_in_future],
                               description=_l(
                                   "The school ledger is for children of school age on this date, %(first)d to "
                                   "%(last)d: compulsory education starts at %(first)d (Compulsory Education Law, "
                                   "art. 11), and the plans ask that rescued children of school age go back to "
                                   "school (State Council 2008–2012 plan 四(四)2(2); Jiangsu 2021–2030 二(三)2(1)).",
                                   first=rules.FIRST_AGE, last=rules.LAST_AGE))
    transfer_state = SelectField(_l("Transfer procedures"), choices=options(STEP_LABELS))
    transfer_date = DateField(_l("Transfer completed on"), validators=[Optional(), not_in_future])
    record_state = SelectField(_l("Student-record continuation"), choices=options(STEP_LABELS))
    record_date = DateField(_l("Student record continued on"), validators=[Optional(), not_in_future])
    mentoring = TextAreaField(_l("Mentoring"), validators=[Optional(), Length(max=2000)],
                              description=_l("Who is paired with the child and how."))
    counselling_notes = TextAreaField(_l("School counselling notes"), validators=[Optional(), Length(max=4000)])

    def __init__(self, *args, person=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.person = person

    def validate_enrolment_date(self, field):
        if field.data is None:  # not a date: the field already says so (WTForms runs the chain anyway)
            return
        problem = rules.school_age_problem(self.person, field.data)
        if problem:
            raise ValidationError(AGE_MESSAGES[problem] % {"first": rules.FIRST_AGE, "last": rules.LAST_AGE,
                                                           "adult": rules.LAST_AGE + 1})

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        # Here, not in validate_<field>: Optional() stops a field's own chain when the date is empty.
        for state, day in ((self.transfer_state, self.transfer_date), (self.record_state, self.record_date)):
            problem = None if state.errors or day.errors else rules.step_problem(state.data, day.data)
            if problem:
                day.errors.append(_STEP_MESSAGES[problem])
                ok = False
        return ok
