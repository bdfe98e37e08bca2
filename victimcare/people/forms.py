"""Forms of the identity section. Messages are per field; input is kept on error."""
from __future__ import annotations

import datetime as dt
import math

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, HiddenField, IntegerField, SelectField, StringField,
                     TextAreaField)
from wtforms.validators import NumberRange, Optional, Length, ValidationError

from ..choices import MarkRequired, options
from ..employment.rules import MINIMUM_AGE
from ..placements.rules import ADULT_AGE, RESIDENCE_MONTHS
from ..schooling.rules import FIRST_AGE, LAST_AGE
from ..regions.forms import CHOOSE_FIELD, LEVELS, OriginPicker
from .rules import AGE_BANDS, id_birth_date, id_number_problem, normalise_id_number

SEX_LABELS = {"female": _l("Female"), "male": _l("Male"), "unknown": _l("Unknown")}
IDENTITY_STATUS_LABELS = {"unidentified": _l("Identity unknown"), "identified": _l("Identified")}
METHOD_LABELS = {"dna": _l("DNA match"), "face": _l("Face match"), "documents": _l("Documents"),
                 "self_report": _l("Self-report")}
TRACING_LABELS = {"not_started": _l("Not started"), "searching": _l("Searching"),
                  "guardian_found": _l("Guardian found"), "guardian_not_found": _l("Guardian not found")}
CASE_STATUS_LABELS = {"open": _l("Open"), "closed": _l("Closed")}
NATIONALITY_LABELS = {"CHN": _l("China"), "VNM": _l("Viet Nam"), "MMR": _l("Myanmar"), "LAO": _l("Laos"),
                      "KHM": _l("Cambodia"), "PRK": _l("DPR Korea"), "OTHER": _l("Other / unknown")}

_ID_MESSAGES = {
    "shape": _l("An ID number has 17 digits and a final digit or X."),
    "region": _l("The first two digits are not a province code."),
    "birth_date": _l("Digits 7 to 14 are not a valid date of birth."),
    "check_digit": _l("The check digit (last character) is wrong: please check the number."),
}


class IntegerRange(NumberRange):
    """NumberRange for IntegerFields. WTForms' own calls math.isnan(), which raises OverflowError on an
    integer beyond a float's range (a 400-digit age was a server error): such a number is out of range."""

    def __call__(self, form, field):
        data = field.data
        if not isinstance(data, int) or abs(data) < 2 ** 53:
            return super().__call__(form, field)
        field.data = math.inf if data > 0 else -math.inf
        try:
            return super().__call__(form, field)
        finally:
            field.data = data


def not_in_future(form, field):
    if field.data and field.data > dt.date.today():
        raise ValidationError(_l("This date is in the future."))


def _blank_to_none(value):
    return value.strip() if isinstance(value, str) and value.strip() else None


class IdentityForm(OriginPicker, FlaskForm):
    version = HiddenField()
    name = StringField(_l("Name"), validators=[Optional(), Length(max=100)], filters=[_blank_to_none],
                       description=_l("Leave empty if unknown; record any names she is called by as aliases."))
    aliases = TextAreaField(_l("Aliases and other names"), validators=[Optional(), Length(max=1000)],
                            description=_l("One per line."))
    sex = SelectField(_l("Sex"), choices=options(SEX_LABELS), validators=[MarkRequired()])
    date_of_birth = DateField(_l("Date of birth"), validators=[Optional(), not_in_future],
                              description=_l(
                                  "If unknown, give an estimated age instead. The age decides which rules apply: "
                                  "school age %(first)d to %(last)d, training and jobs from %(work)d, the "
                                  "protection of a child under %(adult)d.",
                                  first=FIRST_AGE, last=LAST_AGE, work=MINIMUM_AGE, adult=ADULT_AGE))
    estimated_age = IntegerField(_l("Estimated age (years)"), validators=[Optional(), IntegerRange(0, 120)])
    id_number = StringField(_l("Resident ID number"), validators=[Optional(), Length(max=30)],
                            filters=[_blank_to_none])
    nationality = SelectField(_l("Nationality"), choices=options(NATIONALITY_LABELS), default="CHN")
    # origin_province, origin_city, origin_county, origin_code: OriginPicker (regions/forms.py)
    origin_address = TextAreaField(_l("Home address as known"), validators=[Optional(), Length(max=500)])
    contact = TextAreaField(_l("Contacts (phone, family)"), validators=[Optional(), Length(max=500)])
    rescue_date = DateField(_l("Rescue date"), validators=[Optional(), not_in_future])
    rescue_place = StringField(_l("Rescue place"), validators=[Optional(), Length(max=200)])
    rescuing_agency = StringField(_l("Rescuing agency"), validators=[Optional(), Length(max=200)])
    police_case_number = StringField(_l("Police case number"), validators=[Optional(), Length(max=64)])
    identity_status = SelectField(_l("Identity status"), choices=options(IDENTITY_STATUS_LABELS),
                                  validators=[MarkRequired()], description=_l(
                                      "While the identity is unknown, a stay of more than %(months)d months in an "
                                      "assistance institution leads to a residence registration application "
                                      "(Jiangsu 2021–2030 二(三)1(5)); an established identity ends that rule.",
                                      months=RESIDENCE_MONTHS))
    identified_method = SelectField(_l("Identified by"),
                                    choices=options(METHOD_LABELS, blank="—"))
    identified_on = DateField(_l("Identified on"), validators=[Optional(), not_in_future])
    tracing_result = SelectField(_l("Family tracing"), choices=options(TRACING_LABELS))
    tracing_notes = TextAreaField(_l("Tracing attempts"), validators=[Optional(), Length(max=4000)])
    notes = TextAreaField(_l("Narrative and notes"), validators=[Optional(), Length(max=10000)])

    def validate_id_number(self, field):
        if field.data:
            problem = id_number_problem(field.data)
            if problem:
                raise ValidationError(_ID_MESSAGES[problem])
            field.data = normalise_id_number(field.data)

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        return self._cross_checks() and ok

    def _cross_checks(self) -> bool:
        ok = True
        dob = self.date_of_birth.data
        if dob is None and self.estimated_age.data is None and not self.date_of_birth.errors:
            self.date_of_birth.errors.append(_l("Give a date of birth or an estimated age."))
            ok = False
        if self.id_number.data and dob and not self.id_number.errors:
            if id_birth_date(normalise_id_number(self.id_number.data)) != dob:
                self.date_of_birth.errors.append(_l("The date of birth differs from the one in the ID number."))
                ok = False
        rescue = self.rescue_date.data
        if rescue and dob and rescue < dob:
            self.rescue_date.errors.append(_l("The rescue date is before the date of birth."))
            ok = False
        if self.identity_status.data == "identified":
            if not self.identified_method.data:
                self.identified_method.errors.append(_l("Say how the identity was established."))
                ok = False
            if not self.identified_on.data and not self.identified_on.errors:
                self.identified_on.errors.append(_l("Give the date the identity was established."))
                ok = False
        elif self.identified_method.data or self.identified_on.data:
            self.identity_status.errors.append(
                _l("A method or date of identification is given: set the status to identified, or clear them."))
            ok = False
        return ok


class RegisterForm(IdentityForm):
    organisation_id = SelectField(_l("Responsible organisation"), coerce=int, validate_choice=True,
                                  validators=[MarkRequired()])


class DnaForm(FlaskForm):
    version = HiddenField()
    dna_sample_taken = BooleanField(_l("DNA sample taken"))
    dna_reference = StringField(_l("Sample reference"), validators=[Optional(), Length(max=64)],
                                description=_l("The reference of the national anti-trafficking DNA database. "
                                               "Never genetic data."))
    dna_submitted_on = DateField(_l("Submitted on"), validators=[Optional(), not_in_future])

    def validate_dna_reference(self, field):
        if field.data and not self.dna_sample_taken.data:
            raise ValidationError(_l("A reference needs a sample: tick 'DNA sample taken'."))

    def validate_dna_submitted_on(self, field):
        if field.data and not self.dna_sample_taken.data:
            raise ValidationError(_l("A submission date needs a sample: tick 'DNA sample taken'."))


def _row_number(value):
    """An integer row id from a GET filter, or None for none; one no column holds is not a choice
    (WTForms shows its "not a valid choice" message instead of the database refusing the number)."""
    if value in (None, ""):
        return None
    number = int(value)
    if not 0 < number < 2 ** 31:
        raise ValueError(value)
    return number


class CaseloadFilterForm(OriginPicker, FlaskForm):
    """GET filters of the caseload list (no CSRF: it changes nothing). Every filter but ``q`` is
    plaintext metadata that identifies nobody; the place of origin narrows to a province, a city or a
    county (people/service.origin_prefix)."""
    class Meta:
        csrf = False

    q = StringField(_l("Case number, ID number, name or alias (characters, pinyin or initials)"),
                    validators=[Optional(), Length(max=100)], filters=[_blank_to_none])
    birth_year = IntegerField(_l("Birth year"), validators=[Optional(), IntegerRange(1900, 2100)])
    status = SelectField(_l("Case status"), choices=options(CASE_STATUS_LABELS, blank=_l("Any")),
                         validators=[Optional()])
    identity_status = SelectField(_l("Identity status"),
                                  choices=options(IDENTITY_STATUS_LABELS, blank=_l("Any")),
                                  validators=[Optional()])
    sex = SelectField(_l("Sex"), choices=options(SEX_LABELS, blank=_l("Any")), validators=[Optional()])
    age_band = SelectField(_l("Age band"), choices=options(((b[0], b[0]) for b in AGE_BANDS), blank=_l("Any")),
                           validators=[Optional()])
    organisation_id = SelectField(_l("Organisation"), coerce=_row_number,
                                  validators=[Optional()], validate_choice=False)
    rescued_from = DateField(_l("Rescued from"), validators=[Optional()])
    rescued_until = DateField(_l("Rescued until"), validators=[Optional()])

    def __init__(self, formdata=None, **kwargs):
        super().__init__(formdata, **kwargs)
        # Without JavaScript the picker's "choose" buttons submit this GET form: a list left from an
        # earlier choice above is dropped then, as the POST forms do, instead of being refused.
        if formdata is not None and formdata.get(CHOOSE_FIELD) in LEVELS:
            self.choosing_origin = True
            self._fill_origin_choices()

    def validate_birth_year(self, field):
        if not field.errors and field.data is not None and field.data > dt.date.today().year:
            raise ValidationError(_l("A birth year cannot be in the future."))

    @property
    def filters(self) -> dict:
        """The filters given, for caseload_query: the place of origin as its code only."""
        skip = {"origin_province", "origin_city", "origin_county"}
        return {k: v for k, v in self.data.items() if v not in (None, "") and k not in skip}
