"""The statistics filter: a period (both days included), a breakdown and the region level. A GET form."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional

from ..choices import options
from .statistics import DIMENSIONS, REGION_LEVELS

MAX_YEARS = 20


class StatsForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    date_from = DateField(_l("From"), validators=[Optional()])
    date_to = DateField(_l("To"), validators=[Optional()])
    breakdown = SelectField(_l("Breakdown"), choices=options(DIMENSIONS), default="organisation")
    region_level = SelectField(_l("Region"), choices=options(REGION_LEVELS), default="province")

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        start, end = self.date_from.data, self.date_to.data
        if ok and start and end:
            if end < start:
                self.date_to.errors.append(_l("The end of the period is before its start."))
                ok = False
            elif (end - start).days > 366 * MAX_YEARS:
                self.date_to.errors.append(_l("The period can be at most %(years)d years.", years=MAX_YEARS))
                ok = False
        return ok
