"""Statistics for the plans' evaluations: a page (tables and server-drawn SVG bars) and exports.

Who: managers and caseworkers of a bureau or shelter, for the people of their organisation subtree
(access.scoped_people); a figure made from a section the role may not read (caseworkers: medical) is
left out. Everyone else gets 403, audited.
On the page the figures are exact: it is the user's own scope, whose files they may open one by one
anyway. Exports leave the office, so there small counts are suppressed (statistics.protect)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from .. import access, audit
from ..auth.reauth import recent_auth_required
from ..extensions import db
from . import statistics as st
from .export import to_csv, to_xlsx
from .stats_forms import StatsForm

stats_bp = Blueprint("stats", __name__, url_prefix="/statistics")
SECTION = "statistics"
FORMATS = {"csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
CHART_WIDTH = 320


def _require():
    if not st.may_see(current_user):
        audit.record_now("denied", section=SECTION, details={"action": "read", "status": 403})
        abort(403)


def _form_and_period(today: dt.date):
    form = StatsForm(request.args)
    default = st.this_year(today)
    for date_field, value in ((form.date_from, default.start), (form.date_to, default.end)):
        # Absent, empty or blank: this year (a blank "date_to= " passed Optional() as None: a 500).
        if not "".join(date_field.raw_data or ()).strip():
            date_field.data = value
    if not form.validate():
        return form, None
    return form, st.Period(form.date_from.data, form.date_to.data)


def _query_args(form) -> dict:
    return {"date_from": form.date_from.data.isoformat(), "date_to": form.date_to.data.isoformat(),
            "breakdown": form.breakdown.data, "region_level": form.region_level.data}


@stats_bp.route("/")
@access.signed_in(named="statistics")
def index():
    _require()
    today = dt.date.today()
    form, period = _form_and_period(today)
    if period is None:
        return render_template("stats/index.html", form=form, stats=None), 400
    stats = st.compute(current_user, period, today)
    rows = stats.breakdown(form.breakdown.data, form.region_level.data)
    audit.record("view", section=SECTION, details={**period.details(), "breakdown": form.breakdown.data})
    db.session.commit()
    return render_template("stats/index.html", form=form, stats=stats, rows=rows, st=st,
                           charts=_charts(stats, rows), share_chart=_share_chart(stats),
                           args=_query_args(form))


@stats_bp.route("/export.<fmt>")
@access.signed_in(named="statistics")
@recent_auth_required
def export(fmt: str):
    _require()
    if fmt not in FORMATS:
        abort(404)
    today = dt.date.today()
    form, period = _form_and_period(today)
    if period is None:
        abort(400)
    stats = st.compute(current_user, period, today)
    breakdown, level = form.breakdown.data, form.region_level.data
    if fmt == "csv":
        header, rows = breakdown_table(stats, breakdown, level)
        body = to_csv(header, rows + _notes())
    else:
        sheets = {_("Summary"): summary_table(stats)}
        for dimension, label in st.DIMENSIONS.items():
            sheets[str(label)] = breakdown_table(stats, dimension, level)
        if stats.residence is not None:
            sheets[_("Residence registration")] = residence_table(stats)
        sheets[_("Notes")] = ([_("Note")], _notes())
        body = to_xlsx(sheets)
        breakdown = "all"
    audit.record("export", section=SECTION, details={**period.details(), "breakdown": breakdown,
                                                      "region_level": level, "format": fmt})
    db.session.commit()
    name = f"statistics-{period.start.isoformat()}-{period.end.isoformat()}.{fmt}"
    return Response(body, mimetype=FORMATS[fmt],
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


# -- export tables (suppressed) ---------------------------------------------------------------------
def _notes() -> list[list]:
    return [[_("<5: between 1 and 4 people (suppressed so that no one can be singled out).")],
            [_("x: withheld so that a suppressed figure cannot be worked out from the others.")]]


def summary_table(stats: st.Statistics) -> tuple[list, list]:
    header = [_("Figure"), _("Count"), _("Of people rescued in the period"), _("Percent")]
    period = [[_("Period"), f"{stats.period.start.isoformat()} – {stats.period.end.isoformat()}", "", ""]]
    rows = [[str(st.COUNT_FIGURES[f]), st.publish(stats.totals[f], st.small(stats.totals[f])), "", ""]
            for f in stats.count_figures]
    rescued = stats.totals["rescued"]
    rescued_cell = st.publish(rescued, st.small(rescued))
    for f in stats.share_figures:
        n = stats.totals[f]
        cell = st.publish(n, st.share_hidden(n, rescued))
        rows.append([str(st.SHARE_FIGURES[f]), cell, rescued_cell, st.published_percent(cell, rescued_cell, n, rescued)])
    return header, period + rows


def breakdown_table(stats: st.Statistics, dimension: str, level: str) -> tuple[list, list]:
    """One row per group plus the total; for each count its suppressed value, for each share also
    the percentage of the group's people rescued in the period."""
    buckets = stats.breakdown(dimension, level)
    header = [str(st.DIMENSIONS[dimension]), _("Code")] + [str(st.COUNT_FIGURES[f]) for f in stats.count_figures]
    for f in stats.share_figures:
        header += [str(st.SHARE_FIGURES[f]), _("%(figure)s (%%)", figure=st.SHARE_FIGURES[f])]
    rescued = [b.counts["rescued"] for b in buckets]
    total_rescued = sum(rescued)
    columns = {f: st.protect([b.counts[f] for b in buckets]) for f in stats.count_figures}
    for f in stats.share_figures:
        values = [b.counts[f] for b in buckets]
        columns[f] = st.protect(values, [st.share_hidden(v, d) for v, d in zip(values, rescued)],
                                st.share_hidden(sum(values), total_rescued))
    rows = []
    for i, b in enumerate(buckets + [None]):
        if b is None:  # the total row
            counts = stats.totals
            cells = {f: st.publish(counts[f], st.small(counts[f])) for f in stats.count_figures}
            cells.update({f: st.publish(counts[f], st.share_hidden(counts[f], total_rescued))
                          for f in stats.share_figures})
            row = [_("Total"), ""]
        else:
            counts = b.counts
            cells = {f: columns[f][i] for f in columns}
            row = [str(b.label), b.code]
        row += [cells[f] for f in stats.count_figures]
        for f in stats.share_figures:
            row += [cells[f], st.published_percent(cells[f], cells.get("rescued", ""), counts[f], counts["rescued"])]
        rows.append(row)
    return header, rows


def residence_table(stats: st.Statistics) -> tuple[list, list]:
    from ..placements.views import STATE_LABELS
    rows = [[_("Today: %(state)s", state=STATE_LABELS[s]), st.publish(n, st.small(n))]
            for s, n in stats.residence["states"].items()]
    rows += [[_("In the period: %(step)s", step=_STEP_LABELS()[s]), st.publish(n, st.small(n))]
             for s, n in stats.residence["steps"].items()]
    return [_("Residence registration"), _("Count")], rows


def _STEP_LABELS():
    return {"drafted": _("applications drafted"), "submitted": _("applications submitted to public security"),
            "registered": _("hukou registered")}


# -- charts: bars drawn on the server as inline SVG (no script, no style attributes) ----------------
def _bars(items: list[tuple[str, float, str]], scale_max: float) -> list[dict]:
    return [{"label": label, "value": value, "text": text,
             "width": round(CHART_WIDTH * value / scale_max, 1) if scale_max else 0, "y": i * 22}
            for i, (label, value, text) in enumerate(items)]


def _charts(stats: st.Statistics, rows: list) -> list[dict]:
    charts = []
    for f in stats.count_figures:
        values = [(b.label if not b.code else f"{b.code} {b.label}", b.counts[f], str(b.counts[f])) for b in rows]
        top = max((v for _label, v, _text in values), default=0)
        charts.append({"key": f, "title": st.COUNT_FIGURES[f], "bars": _bars(values, top),
                       "height": 22 * len(values)})
    return charts


def _share_chart(stats: st.Statistics) -> dict:
    rescued = stats.totals["rescued"]
    items = []
    for f in stats.share_figures:
        value = st.percent(stats.totals[f], rescued) or 0.0
        items.append((str(st.SHARE_FIGURES[f]), value, f"{value:.1f}%"))
    return {"bars": _bars(items, 100.0), "height": 22 * len(items)}
