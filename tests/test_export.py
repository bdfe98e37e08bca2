"""Exports defuse formulas and suppress small counts."""
import io
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from victimcare.reports.export import safe_text, suppress, to_csv, to_xlsx


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "=HYPERLINK(\"http://x\")"])
def test_formula_text_is_defused(value):
    assert safe_text(value) == "'" + value


def test_numbers_and_plain_text_are_kept():
    assert safe_text(-3) == -3 and safe_text(Decimal("-1.50")) == Decimal("-1.50")
    assert safe_text("张丽") == "张丽" and safe_text(None) == ""


@pytest.mark.parametrize("count, shown", [(0, 0), (1, "<5"), (4, "<5"), (5, 5), (120, 120)])
def test_small_counts_are_suppressed(count, shown):
    assert suppress(count) == shown


def test_csv_and_xlsx_carry_no_live_formula():
    rows = [["=cmd|' /C calc'!A0", 3, Decimal("12.50")]]
    text = to_csv(["姓名", "n", "元"], rows).decode("utf-8-sig")
    assert "'=cmd" in text and "姓名" in text
    sheet = load_workbook(io.BytesIO(to_xlsx({"统计": (["a", "b", "c"], rows)})))["统计"]
    assert sheet["A2"].value == "'=cmd|' /C calc'!A0" and sheet["A2"].data_type == "s"
    assert sheet["B2"].value == 3 and sheet["C2"].value == 12.5
