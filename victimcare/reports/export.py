"""CSV and XLSX exports: one place for formula safety and small-count suppression.

A cell that starts with ``=``, ``+``, ``-``, ``@`` (also after spaces or in full width, ``＝``), or
with a tab, CR or LF, could run as a formula in a spreadsheet: such text is prefixed with an
apostrophe. XLSX cannot hold most control characters (openpyxl refuses the whole file): they become
U+FFFD. Counts under ``SUPPRESS_BELOW`` are
replaced by a marker so that no one can be singled out from a published table."""
from __future__ import annotations

import csv
import io
import unicodedata
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

SUPPRESS_BELOW = 5
SUPPRESSED = "<5"
_FORMULA_START = ("=", "+", "-", "@")
_CONTROL_START = ("\t", "\r", "\n")


def safe_text(value):
    """Numbers stay numbers; text that a spreadsheet would run as a formula is defused."""
    if value is None:
        return ""
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return value
    text = str(value)
    head = unicodedata.normalize("NFKC", text.lstrip(" \u3000")[:1])
    return "'" + text if head.startswith(_FORMULA_START) or text.startswith(_CONTROL_START) else text


def _xlsx_value(value):
    if isinstance(value, Decimal):
        return float(value)
    value = safe_text(value)
    return ILLEGAL_CHARACTERS_RE.sub("\ufffd", value) if isinstance(value, str) else value


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
        sheet.append([_xlsx_value(h) for h in header])
        for row in rows:
            sheet.append([_xlsx_value(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
