"""Forms: medical visit with costs, disability assessment, suspected-trafficking report, police step.
Messages are per field; input is kept on error (amounts are re-shown exactly as typed)."""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (DateField, Field, HiddenField, SelectField, StringField, TextAreaField, TimeField)
from wtforms.validators import InputRequired, Length, Optional, ValidationError
from wtforms.widgets import TextInput

from ..choices import options
from . import rules

VISIT_TYPE_LABELS = {"basic_medical": _l("Basic medical care"),
                     "psychological_counselling": _l("Psychological counselling"),
                     "psychiatric_treatment": _l("Psychiatric treatment")}
DISABILITY_LABELS = {"visual": _l("Visual"), "hearing": _l("Hearing"), "speech": _l("Speech"),
                     "physical": _l("Physical"), "intellectual": _l("Intellectual"), "mental": _l("Mental"),
                     "multiple": _l("Multiple")}
GRADE_LABELS = {1: _l("Grade 1 (most severe)"), 2: _l("Grade 2"), 3: _l("Grade 3"), 4: _l("Grade 4 (mildest)")}
REPORT_STATUS_LABELS = {"submitted": _l("Submitted, not yet acknowledged"), "acknowledged": _l("Acknowledged"),
                        "investigating": _l("Passed to investigation")}
_AMOUNT_MESSAGES = {
    "shape": _l("An amount in yuan, digits with at most two decimals, e.g. 1280.50."),
    "negative": _l("An amount cannot be negative."),
    "decimals": _l("At most two decimals (fen)."),
    "too_large": _l("More than 1,000,000 yuan for one visit: please check the amount."),
}


def not_in_future(form, field):
    if field.data and field.data > dt.date.today():
        raise ValidationError(_l("This date is in the future."))


class YuanField(Field):
    """An amount in yuan as a Decimal, parsed by rules.parse_amount (never a float).

    A text box with a decimal keypad, not type=number (whose step="0.01" would be the only gain): a
    number box posts an empty value for text it cannot read, so the server would ask for an amount
    instead of saying what is wrong with the one typed, and the mouse wheel changes it unseen."""
    widget = TextInput()

    def __init__(self, *args, **kwargs):
        kwargs["render_kw"] = {"inputmode": "decimal", "autocomplete": "off", **(kwargs.get("render_kw") or {})}
        super().__init__(*args, **kwargs)

    def process_formdata(self, valuelist):
        self.data = None
        if valuelist and not valuelist[0].strip():
            self.raw_data = [""]  # blanks are no amount: InputRequired must see an empty field
        elif valuelist:
            problem, value = rules.parse_amount(valuelist[0])
            if problem:
                raise ValueError(_AMOUNT_MESSAGES[problem])
            self.data = value

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        return f"{self.data:.2f}" if self.data is not None else ""


class VisitForm(FlaskForm):
    version = HiddenField()
    visit_date = DateField(_l("Visit date"), validators=[InputRequired(_l("Give the date of the visit.")),
                                                         not_in_future])
    visit_type = SelectField(_l("Type of care"), choices=options(VISIT_TYPE_LABELS, blank="—"),
                             validators=[InputRequired(_l("Choose the type of care."))])
    diagnosis = TextAreaField(_l("Diagnosis"), validators=[Optional(), Length(max=4000)])
    notes = TextAreaField(_l("Treatment and notes"), validators=[Optional(), Length(max=10000)])
    total_cost = YuanField(_l("Total cost (yuan)"), validators=[InputRequired(_l("Give the total cost, 0 if none."))],
                           description=_l("In yuan, with at most two decimals (fen), e.g. 1280.50."))
    insurance_paid = YuanField(_l("Paid by basic medical insurance (yuan)"),
                               validators=[InputRequired(_l("Give the amount insurance paid, 0 if none."))],
                               description=_l("The rest, the self-pay share, is computed and paid by the "
                                              "same-level government finance (Jiangsu 2021–2030 二(三)1(6)): "
                                              "treatment costs the person nothing."))

    def validate_visit_type(self, field):
        if field.data not in VISIT_TYPE_LABELS:
            raise ValidationError(_l("Choose the type of care."))

    def validate_insurance_paid(self, field):
        total = self.total_cost.data
        if field.data is not None and total is not None and field.data > total:
            raise ValidationError(_l("Insurance cannot have paid more than the total cost."))


class DisabilityForm(FlaskForm):
    version = HiddenField()
    category = SelectField(_l("Disability category"), choices=options(DISABILITY_LABELS, blank="—"),
                           validators=[InputRequired(_l("Choose the category."))])
    grade = SelectField(_l("Disability grade"), choices=options(GRADE_LABELS, blank="—"),
                        coerce=lambda v: int(v) if str(v).isdigit() else None,
                        validators=[InputRequired(_l("Choose the grade (1 to 4)."))], validate_choice=False)
    institution = StringField(_l("Assessing institution"),
                              validators=[InputRequired(_l("Name the institution that assessed.")),
                                          Length(max=200)])
    assessed_on = DateField(_l("Assessed on"), validators=[InputRequired(_l("Give the date of the assessment.")),
                                                           not_in_future])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=4000)])

    def validate_category(self, field):
        if field.data not in DISABILITY_LABELS:
            raise ValidationError(_l("Choose the category."))

    def validate_grade(self, field):
        if field.data not in GRADE_LABELS:
            raise ValidationError(_l("Choose the grade (1 to 4)."))


class ReportForm(FlaskForm):
    police_organisation_id = SelectField(_l("Police station"), coerce=lambda v: int(v) if str(v).isdigit() else None,
                                         validators=[InputRequired(_l("Choose the police station."))],
                                         validate_choice=False)
    observed_on = DateField(_l("Observed on"), validators=[InputRequired(_l("Give the date you observed it.")),
                                                           not_in_future])
    observed_time = TimeField(_l("At (time, optional)"), validators=[Optional()], description=_l("HH:MM."))
    place = StringField(_l("Where"), validators=[InputRequired(_l("Say where you observed it.")), Length(max=300)])
    victim_description = TextAreaField(
        _l("The suspected victim"), validators=[InputRequired(_l("Describe the suspected victim.")),
                                                Length(max=4000)],
        description=_l("Apparent age, sex, appearance, language, name if known."))
    circumstances = TextAreaField(_l("Circumstances"),
                                  validators=[InputRequired(_l("Describe what made you suspect trafficking.")),
                                              Length(max=10000)])
    case_number = StringField(_l("Case number of an existing file (optional)"),
                              validators=[Optional(), Length(max=32)],
                              description=_l("Only a file your organisation can open."))
    reporter_contact = StringField(_l("Your contact (phone)"),
                                   validators=[InputRequired(_l("Give a phone number the police can call.")),
                                               Length(max=200)])

    def validate_police_organisation_id(self, field):
        if field.data not in {c.value if hasattr(c, "value") else c[0] for c in field.choices}:
            raise ValidationError(_l("Choose the police station."))


class ReportStepForm(FlaskForm):
    version = HiddenField()
    status = SelectField(_l("Step"), choices=options({"acknowledged": _l("Acknowledged"),
                                                      "investigating": _l("Passed to investigation")}),
                         validators=[InputRequired()])
    note = TextAreaField(_l("Note"), validators=[InputRequired(_l("Write a note on what was done.")),
                                                 Length(max=4000)])
