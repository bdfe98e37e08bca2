"""Forms of the placement and residence sections. Messages are per field; input is kept on error.

Checks that need the person's other stays (overlaps, the buying-household rule) are in the
service; the views add its messages to the fields here."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from ..choices import MarkRequired, options
from ..people.forms import SEX_LABELS, IntegerRange, not_in_future
from .rules import ADULT_AGE, HOUSEHOLD_TYPES, RESIDENCE_MONTHS

TYPE_LABELS = {"temporary_assistance": _l("Temporary assistance"),
               "transit_rehabilitation": _l("Transit and rehabilitation"),
               "child_welfare": _l("Child welfare institution"),
               "family_foster": _l("Family foster care"),
               "return_to_family": _l("Return to family"),
               "independent_living": _l("Independent living")}
RELATION_LABELS = {"none": _l("No household (institution or on her own)"),
                   "own_family": _l("The person's own family"),
                   "relative": _l("A relative"),
                   "foster_family": _l("A foster family"),
                   "buying_household": _l("The household that bought the person")}


def _blank_to_none(value):
    return value.strip() if isinstance(value, str) and value.strip() else None


class PlacementForm(FlaskForm):
    version = HiddenField()
    placement_type = SelectField(_l("Type of placement"), choices=options(TYPE_LABELS), validators=[MarkRequired()])
    organisation_id = SelectField(_l("Institution"), coerce=lambda v: int(v) if v else None,
                                  validate_choice=True,
                                  description=_l("A shelter or bureau in your scope; or leave empty and "
                                                 "give a name below."))
    institution_name = StringField(_l("Other institution or household"),
                                   validators=[Optional(), Length(max=200)], filters=[_blank_to_none],
                                   description=_l("E.g. the foster family or a welfare home outside the system."))
    household_relation = SelectField(_l("Receiving household's relation to the case"),
                                     choices=options(RELATION_LABELS), default="none", validators=[MarkRequired()],
                                     description=_l(
                                         "A child (under %(adult)d) whose parents or guardians have not been found "
                                         "is never placed with the household that bought her: civil affairs places "
                                         "her (Jiangsu 2021–2030 二(二)3; Fujian 2013–2020 二(二)).",
                                         adult=ADULT_AGE))
    admitted_on = DateField(_l("Admission date"), validators=[InputRequired(), not_in_future],
                            description=_l(
                                "The three-month rule counts from here: a person who stays in an assistance "
                                "institution more than %(months)d months with her identity still unknown gets a "
                                "residence registration application, due the day after %(months)d calendar months, "
                                "so that she can be registered in a household register and receive schooling and "
                                "social security (Jiangsu 2021–2030 二(三)1(5)).", months=RESIDENCE_MONTHS))
    reason = TextAreaField(_l("Reason for the placement"), validators=[Optional(), Length(max=4000)])
    discharged_on = DateField(_l("Discharge date"), validators=[Optional(), not_in_future])
    discharge_reason = TextAreaField(_l("Reason for the discharge"), validators=[Optional(), Length(max=4000)])

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        return self._cross_checks() and ok

    def _cross_checks(self) -> bool:
        ok = True
        if self.organisation_id.data is None and not self.institution_name.data \
                and not self.organisation_id.errors:
            self.organisation_id.errors.append(_l("Choose an institution or give its name."))
            ok = False
        if self.placement_type.data in HOUSEHOLD_TYPES and self.household_relation.data == "none":
            self.household_relation.errors.append(_l("Say whose household receives the person."))
            ok = False
        admitted, discharged = self.admitted_on.data, self.discharged_on.data
        if admitted and discharged and discharged < admitted and not self.discharged_on.errors:
            self.discharged_on.errors.append(_l("The discharge date is before the admission date."))
            ok = False
        if self.discharge_reason.data and not discharged and not self.discharged_on.errors:
            self.discharged_on.errors.append(_l("A discharge reason needs a discharge date."))
            ok = False
        return ok


class AdmissionForm(PlacementForm):
    transfer = BooleanField(_l("Transfer: discharge the current stay on this admission date"))
    # The open stay the user saw ("<id>:<version>", or empty): an admission or transfer made on a page
    # read before someone else admitted, transferred or edited is a conflict (views.for_person).
    current_stay = HiddenField()


class DischargeForm(FlaskForm):
    version = HiddenField()
    discharged_on = DateField(_l("Discharge date"), validators=[InputRequired(), not_in_future])
    discharge_reason = TextAreaField(_l("Reason for the discharge"),
                                     validators=[DataRequired(), Length(max=4000)])


class ApplicationForm(FlaskForm):
    """The draft application, pre-filled from the file; the caseworker corrects and completes it."""
    version = HiddenField()
    name = StringField(_l("Name"), validators=[Optional(), Length(max=100)], filters=[_blank_to_none],
                       description=_l("The name the person uses; the police register it."))
    sex = SelectField(_l("Sex"), choices=options(SEX_LABELS), validators=[MarkRequired()])
    date_of_birth = DateField(_l("Date of birth"), validators=[Optional(), not_in_future])
    birth_year = IntegerField(_l("Estimated year of birth"), validators=[Optional(), IntegerRange(1900, 2100)])
    rescue_date = DateField(_l("Rescue date"), validators=[Optional(), not_in_future])
    institution = StringField(_l("Institution"), validators=[DataRequired(), Length(max=200)])
    statement = TextAreaField(_l("Statement of the circumstances"), validators=[DataRequired(), Length(max=10000)],
                              description=_l("How the person came to the institution, the tracing done so far, "
                                             "and why the identity could not be established."))

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        if self.birth_year.data is None and self.date_of_birth.data is None \
                and not self.birth_year.errors and not self.date_of_birth.errors:
            self.birth_year.errors.append(_l("Give a date of birth or an estimated year of birth."))
            ok = False
        return ok


class SubmissionForm(FlaskForm):
    version = HiddenField()
    police_organisation_id = SelectField(_l("Public security office"), coerce=int, validate_choice=True,
                                         validators=[MarkRequired()])
    submitted_on = DateField(_l("Submitted on"), validators=[InputRequired(), not_in_future])


class RegistrationForm(FlaskForm):
    version = HiddenField()
    registered_on = DateField(_l("Registered on"), validators=[InputRequired(), not_in_future])
    hukou_number = StringField(_l("Hukou number or resident ID number"),
                               validators=[DataRequired(), Length(max=40)], filters=[_blank_to_none])
