"""The place-of-origin picker as form fields: province, city and county lists from the shipped table.

Without JavaScript the lists below the province are filled by posting the form with a "choose"
button (``origin_choose``): the form comes back with the next list filled and everything typed kept,
nothing saved, nothing reported as an error. With JavaScript (static/js/region.js) the lists fill from
``regions.children`` and the buttons are hidden. Either way the value stored is ``origin_code``, the
most specific level chosen; a code may also be posted as ``origin_code`` directly.

A record whose code is not in the table (abolished, or typed before the table existed) keeps it:
the form then shows the code in a text field, kept unless a place is chosen or the field cleared.
"""
from __future__ import annotations

from flask import request
from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.validators import Optional

from ..choices import options
from ..people.rules import chosen_origin, origin_choice_problem, origin_code_problem
from . import children, is_valid, path

LEVELS = ("province", "city", "county")
CHOOSE_FIELD = "origin_choose"  # the name of the no-JavaScript "choose" buttons

_CODE_MESSAGES = {
    "shape": _l("Six digits of an administrative division code (GB/T 2260), e.g. 320102."),
    "province": _l("The first two digits are not a province code."),
    "unknown": _l("This code is not in the table of administrative divisions."),
}
_CHOICE_MESSAGES = {
    "unknown": _l("This place is not in the table of administrative divisions: choose it from the list."),
    "not_under_parent": _l("This place is not in the one chosen above it: choose it again from the list."),
    "missing_parent": _l("Choose the level above first."),
}


def _strip(value):
    return value.strip() if isinstance(value, str) and value.strip() else None


class OriginPicker:
    """Mixin for a FlaskForm: ``IdentityForm(OriginPicker, FlaskForm)``. ``recorded_origin`` is the
    record's current code, kept as it is even when the table does not know it."""
    origin_province = SelectField(_l("Province"), validate_choice=False, filters=[_strip])
    origin_city = SelectField(_l("City"), validate_choice=False, filters=[_strip])
    origin_county = SelectField(_l("County or district"), validate_choice=False, filters=[_strip])
    origin_code = StringField(_l("Place of origin (division code)"), validators=[Optional()],
                              filters=[_strip],
                              description=_l("This code is not in the current table of administrative divisions "
                                             "(it may have been abolished). It is kept unless you choose a place "
                                             "above or clear this field."))

    def __init__(self, *args, recorded_origin: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.recorded_origin = recorded_origin
        self.choosing_origin = self.is_submitted() and request.form.get(CHOOSE_FIELD) in LEVELS
        if not any(self._origin_levels()):
            self._levels_from_code(self.origin_code.data)
        self._fill_origin_choices()

    def _origin_fields(self):
        return [getattr(self, f"origin_{level}") for level in LEVELS]

    def _origin_levels(self) -> list[str | None]:
        return [f.data or None for f in self._origin_fields()]

    def _levels_from_code(self, code: str | None) -> None:
        """Preselect the lists for a code in the table (a record being edited, a posted code)."""
        for field, division in zip(self._origin_fields(), path(code)):
            field.data = division.code

    def _fill_origin_choices(self) -> None:
        parent = None
        for field in self._origin_fields():
            listed = children(parent) if parent or field is self.origin_province else ()
            field.choices = options(((d.code, d.name) for d in listed), blank="—")
            known = field.data in {d.code for d in listed}
            if self.choosing_origin and not known:
                field.data = None  # a lower list left from an earlier choice above it
            parent = field.data if known else None

    @property
    def shows_recorded_origin(self) -> bool:
        """The code field is shown for a code the lists cannot show, or one refused."""
        code = self.origin_code.data
        return bool(self.origin_code.errors) or bool(code and not is_valid(code))

    def validate_on_submit(self, extra_validators=None):
        """A "choose" post shows the next list: it saves nothing and reports nothing."""
        if self.choosing_origin:
            return False
        return super().validate_on_submit(extra_validators)

    def validate(self, extra_validators=None):
        ok = super().validate(extra_validators)
        return self._check_origin() and ok

    @property
    def data(self):
        """As posted, with ``origin_code`` the place stored: the lists win over the code field (which
        keeps what was typed in it, to be shown again if the page comes back)."""
        data = super().data
        levels = self._origin_levels()
        if any(levels):
            data["origin_code"] = chosen_origin(*levels)
        return data

    def _check_origin(self) -> bool:
        levels = self._origin_levels()
        if any(levels):  # a place picked from the lists wins over a code field left as it was
            problem = origin_choice_problem(*levels)
            if problem:
                level, key = problem
                getattr(self, f"origin_{level}").errors.append(_CHOICE_MESSAGES[key])
                return False
            return True
        code = self.origin_code.data
        if not code or code == self.recorded_origin:
            return True
        problem = origin_code_problem(code)
        if problem:
            self.origin_code.errors.append(_CODE_MESSAGES[problem])
            return False
        return True

