"""Cost rules (Jiangsu 2021-2030 二(三)1(6): 医疗费用经基本医保支付后的个人自付部分由同级财政承担).

Pure functions: amounts are yuan with at most two decimals, never negative, never absurd; the
insurance share cannot exceed the total; the self-pay share is computed, never typed."""
from __future__ import annotations

import re
from decimal import Decimal

# One visit's bill above a million yuan is a typing error, not a cost (and Numeric(12,2) has room).
MAX_AMOUNT = Decimal("1000000.00")
_AMOUNT = re.compile(r"^\d+(\.\d+)?$")
CENT = Decimal("0.01")


def parse_amount(text: str) -> tuple[str | None, Decimal | None]:
    """(problem, value): problem is None or one of "shape", "negative", "decimals", "too_large"."""
    text = (text or "").strip()
    if text.startswith("-") and _AMOUNT.match(text[1:]):
        return "negative", None
    if not _AMOUNT.match(text):
        return "shape", None
    value = Decimal(text)
    if value > MAX_AMOUNT:  # first: quantize() raises InvalidOperation beyond 28 digits (a 500)
        return "too_large", None
    if value != value.quantize(CENT):
        return "decimals", None
    return None, value.quantize(CENT)


def self_pay(total: Decimal, insurance: Decimal) -> Decimal:
    """The share finance bears. Refuses what the rules refuse rather than storing a wrong ledger."""
    if total < 0 or insurance < 0:
        raise ValueError("negative amount")
    if insurance > total:
        raise ValueError("insurance above total")
    return (total - insurance).quantize(CENT)


def cost_totals(visits) -> dict[str, Decimal]:
    totals = {"total_cost": Decimal("0.00"), "insurance_paid": Decimal("0.00"), "self_pay": Decimal("0.00")}
    for visit in visits:
        for key in totals:
            totals[key] += getattr(visit, key) or Decimal("0.00")
    return totals
