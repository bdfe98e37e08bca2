from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from ..access import ROLES
from ..choices import options
from .models import ORG_KINDS

ROLE_LABELS = {
    "caseworker": _l("Caseworker"), "clinician": _l("Clinician"), "manager": _l("Manager"),
    "police": _l("Police officer"), "education": _l("Education officer"),
    "employment": _l("Employment officer"), "legal_aid": _l("Legal-aid officer"),
    "auditor": _l("Auditor"), "admin": _l("Administrator"),
}
ORG_KIND_LABELS = {
    "bureau": _l("Civil-affairs bureau"), "shelter": _l("Shelter / assistance institution"),
    "hospital": _l("Designated hospital"), "police": _l("Police station"),
    "school_office": _l("Education office"), "legal_aid": _l("Legal-aid centre"),
    "employment_office": _l("Employment office"), "supervision": _l("Supervising office"),
}


class PasswordRules:
    """Length from config; no composition rules (NIST SP 800-63B), but not the username."""

    def __call__(self, form, field):
        from flask import current_app
        minimum = current_app.config["PASSWORD_MIN_LENGTH"]
        if len(field.data or "") < minimum:
            raise ValidationError(_l("Use at least %(n)d characters.", n=minimum))
        if len(field.data) > 256:
            raise ValidationError(_l("Use at most 256 characters."))
        username = getattr(getattr(form, "username", None), "data", None) or getattr(form, "_username", "")
        if username and username.lower() in field.data.lower():
            raise ValidationError(_l("The password must not contain the username."))


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), PasswordRules()])
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("new_password", _l("The two passwords differ."))])


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(), Length(min=3, max=80),
        Regexp(r"^[A-Za-z0-9_.-]+$", message=_l("Letters, digits, dot, dash and underscore only."))])
    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120)])
    role = SelectField(_l("Role"), choices=options((r, ROLE_LABELS[r]) for r in ROLES))
    organisation_id = SelectField(_l("Organisation"), coerce=int, validate_choice=True)
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), PasswordRules()])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), PasswordRules()])
    must_change = BooleanField(_l("Ask the user to change it at next log-in"), default=True)


class OrganisationForm(FlaskForm):
    name = StringField(_l("Organisation name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"), choices=options((k, ORG_KIND_LABELS[k]) for k in ORG_KINDS))
    region_code = StringField(_l("Administrative division code"), validators=[
        DataRequired(), Regexp(r"^[1-9]\d{5}$", message=_l("Six digits (GB/T 2260), e.g. 320100."))])
    parent_id = SelectField(_l("Parent organisation"), coerce=int, validate_choice=True)


class ButtonForm(FlaskForm):
    """An empty form for button-only POSTs, so CSRF is still checked."""
