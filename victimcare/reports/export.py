"""CSV and XLSX exports: one place for formula safety and small-count suppression.

A cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab/CR) would run as a formula in a
spreadsheet: such text is prefixed with an apostrophe. Counts under ``SUPPRESS_BELOW`` are
replaced by a marker so that no one can be singled out from a published table."""
from __future__ import annotations

import csv
import io
from decimal import Decimal

from openpyxl import Workbook

SUPPRESS_BELOW = 5
SUPPRESSED = "<5"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_text(value):
    """Numbers stay numbers; text that a spreadsheet would run as a formula is defused."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def suppress(count: int | None):
    """A published count: under SUPPRESS_BELOW (but not zero) it becomes "<5"."""
    if count is None:
        return ""
    return SUPPRESSED if 0 < count < SUPPRESS_BELOW else count


def to_csv(header: list, rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_text(h) for h in header])
    for row in rows:
        writer.writerow([safe_text(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")  # BOM: Excel opens UTF-8 Chinese correctly


def to_xlsx(sheets: dict[str, tuple[list, list]]) -> bytes:
    """{sheet title: (header, rows)} to an .xlsx file."""
    book = Workbook()
    book.remove(book.active)
    for title, (header, rows) in sheets.items():
        sheet = book.create_sheet(title=str(title)[:31])
        sheet.append([safe_text(h) for h in header])
        for row in rows:
            sheet.append([float(v) if isinstance(v, Decimal) else safe_text(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
