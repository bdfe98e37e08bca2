"""The statistics filter: a period (both days included), a breakdown and the region level. A GET form."""
from __future__ import annotations

import datetime as dt

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField
from wtforms.validators import Optional, ValidationError

from ..choices import options
from .statistics import DIMENSIONS, REGION_LEVELS

MAX_YEARS = 20
# The period's days become time-zone-aware instants: year 1 or 9999 overflowed (a server error).
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2999, 12, 31)


def plausible(form, field):
    if field.data and not EARLIEST <= field.data <= LATEST:
        raise ValidationError(_l("Give a date between %(start)s and %(end)s.", start=EARLIEST.isoformat(),
                                 end=LATEST.isoformat()))


def dates_given(*fields) -> bool:
    """A date sent twice, blank first ("date_to=&date_to=x"): Optional() looks at the first value only
    and let the field through as None, a server error further on. Say it is not a date."""
    ok = True
    for field in fields:
        if field.data is None and "".join(field.raw_data or ()).strip():
            field.errors.append(_l("Give a date as YYYY-MM-DD."))
            ok = False
    return ok


class StatsForm(FlaskForm):
    class Meta:
        csrf = False  # a GET form that changes nothing

    date_from = DateField(_l("From"), validators=[Optional(), plausible])
    date_to = DateField(_l("To"), validators=[Optional(), plausible])
    breakdown = SelectField(_l("Breakdown"), choices=options(DIMENSIONS), default="organisation")
    region_level = SelectField(_l("Region"), choices=options(REGION_LEVELS), default="province")

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators) and dates_given(self.date_from, self.date_to)
        start, end = self.date_from.data, self.date_to.data
        if ok and start and end:
            if end < start:
                self.date_to.errors.append(_l("The end of the period is before its start."))
                ok = False
            elif (end - start).days > 366 * MAX_YEARS:
                self.date_to.errors.append(_l("The period can be at most %(years)d years.", years=MAX_YEARS))
                ok = False
        return ok
