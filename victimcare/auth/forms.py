import unicodedata

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length, Regexp, ValidationError

from ..access import ROLES
from ..choices import MarkRequired, options
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


def no_control_characters(form, field):
    """For names kept in plaintext columns (they also reach pages, logs and exports): PostgreSQL
    refuses a NUL byte outright (a server error), and the other control characters break XLSX files."""
    if field.data and any(unicodedata.category(c) == "Cc" for c in field.data):
        raise ValidationError(_l("Remove the control characters (such as NUL or a tab) from this text."))


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
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=80), no_control_characters])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


_CODE_INPUT = {"autocomplete": "one-time-code", "autocapitalize": "off", "spellcheck": "false"}


class CodeForm(FlaskForm):
    """The second log-in step (and enrolment): a 6-digit code, or a recovery code."""
    code = StringField(_l("Verification code"), validators=[DataRequired(), Length(max=32)], render_kw=_CODE_INPUT,
                       description=_l("The 6-digit code your authenticator app shows now. "
                                      "If you lost the app, one of your recovery codes."))


class ConfirmForm(FlaskForm):
    """Re-authentication: the password again, and a code if the user has two-factor."""
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])
    code = StringField(_l("Verification code"), validators=[Length(max=32)], render_kw=_CODE_INPUT,
                       description=_l("The 6-digit code your authenticator app shows now, or a recovery code."))


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()])
    new_password = PasswordField(_l("New password"), validators=[DataRequired(), PasswordRules()])
    confirm = PasswordField(_l("Repeat the new password"),
                            validators=[DataRequired(), EqualTo("new_password", _l("The two passwords differ."))])


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(), Length(min=3, max=80),
        Regexp(r"^[A-Za-z0-9_.-]+\Z", message=_l("Letters, digits, dot, dash and underscore only."))])
    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=120), no_control_characters])
    role = SelectField(_l("Role"), choices=options((r, ROLE_LABELS[r]) for r in ROLES), validators=[MarkRequired()])
    organisation_id = SelectField(_l("Organisation"), coerce=int, validate_choice=True, validators=[MarkRequired()])
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), PasswordRules()])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("New password"), validators=[DataRequired(), PasswordRules()])
    must_change = BooleanField(_l("Ask the user to change it at next log-in"), default=True)


class OrganisationForm(FlaskForm):
    name = StringField(_l("Organisation name"), validators=[DataRequired(), Length(max=200), no_control_characters])
    kind = SelectField(_l("Kind"), choices=options((k, ORG_KIND_LABELS[k]) for k in ORG_KINDS),
                       validators=[MarkRequired()])
    region_code = StringField(_l("Administrative division code"), validators=[
        DataRequired(), Regexp(r"^[1-9][0-9]{5}\Z", message=_l("Six digits (GB/T 2260), e.g. 320100."))])
    parent_id = SelectField(_l("Parent organisation"), coerce=int, validate_choice=True)


class ButtonForm(FlaskForm):
    """An empty form for button-only POSTs, so CSRF is still checked."""
