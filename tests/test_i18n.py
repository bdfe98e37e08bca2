"""The Simplified Chinese catalogue covers every message in the source tree, and the UI uses it.

Why the catalogue lives in ``zh_Hans_CN/`` and not ``zh_CN/``: Flask-Babel hands gettext
``str(Locale.parse("zh_CN"))``, which is ``"zh_Hans_CN"``; a ``zh_CN/`` folder is never found and
the whole UI silently falls back to English (see ckan/ckan#4413, pallets-eco/flask-admin#403).

Updating the catalogue after adding strings (from the repository root):

    .venv/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --ignore-dirs='.*' \
        --project=victimcare --version=0.1.0 --sort-by-file \
        -o victimcare/translations/messages.pot .
    .venv/bin/pybabel update -i victimcare/translations/messages.pot -d victimcare/translations \
        -l zh_Hans_CN --no-fuzzy-matching --ignore-obsolete
    # translate the new entries, then:
    .venv/bin/pybabel compile -d victimcare/translations
"""
from __future__ import annotations

import os
import re
import tempfile

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRANSLATIONS = os.path.join(ROOT, "victimcare", "translations")
LOCALE_DIR = "zh_Hans_CN"
PO = os.path.join(TRANSLATIONS, LOCALE_DIR, "LC_MESSAGES", "messages.po")
MO = PO[:-3] + ".mo"
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\(\w+\)[sdif]")


def _read_catalogue():
    with open(PO, "rb") as fh:
        return read_po(fh, locale="zh_Hans_CN")


def _extract() -> dict:
    """Every msgid in the source tree, as the pybabel command above finds it -> where it occurs."""
    with open(os.path.join(ROOT, "babel.cfg"), encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, os.path.join(ROOT, "babel.cfg"))
    tops = {pattern.split("/")[0] for pattern, _method in method_map}  # victimcare, templates

    def walk_into(dirpath: str) -> bool:
        # Babel's default filter also skips "_*" directories, which would lose templates/_macros.
        parts = os.path.relpath(dirpath, ROOT).split(os.sep)
        return parts[0] in tops and not any(part.startswith(".") for part in parts)

    found: dict = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS, directory_filter=walk_into):
        key = (message[0] if isinstance(message, tuple) else message, context)
        if key[0]:
            found.setdefault(key, (message, []))[1].append(f"{filename}:{lineno}")
    return found


def ensure_compiled() -> None:
    """Compile the catalogue when the (git-ignored) .mo is missing or older than the .po."""
    if os.path.exists(MO) and os.path.getmtime(MO) >= os.path.getmtime(PO):
        return
    catalog = _read_catalogue()
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(MO), suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write_mo(fh, catalog)
        os.replace(tmp, MO)  # atomic: a concurrent run never sees half a file
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def test_every_source_message_is_translated():
    catalog = _read_catalogue()
    found = _extract()
    assert found, "extraction found no messages: is babel.cfg right?"
    problems = []
    for (msgid, context), (message, places) in sorted(found.items(), key=lambda kv: kv[0][0]):
        where = ", ".join(places[:3])
        entry = catalog.get(msgid, context=context)
        if entry is None:
            problems.append(f"missing: {msgid!r} ({where})")
            continue
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(s and s.strip() for s in strings):
            problems.append(f"empty: {msgid!r} ({where})")
        elif entry.fuzzy:
            problems.append(f"fuzzy: {msgid!r} ({where})")
        else:
            source = " ".join(m for m in (message if isinstance(message, tuple) else (message,)) if m)
            wanted = set(PLACEHOLDER.findall(source))
            for s in strings:
                if set(PLACEHOLDER.findall(s)) != wanted:
                    problems.append(f"placeholders differ: {msgid!r} -> {s!r} ({where})")
    assert not problems, (f"{len(problems)} message(s) need work in {os.path.relpath(PO, ROOT)} "
                          "(see this file's docstring for the pybabel commands):\n" + "\n".join(problems))


def test_catalogue_is_valid_for_one_plural_form():
    catalog = _read_catalogue()
    assert catalog.num_plurals == 1
    assert not catalog.fuzzy, "the catalogue header is marked fuzzy: pybabel compile would skip it"
    for message in catalog:
        if message.pluralizable:
            assert len(message.string) == 1 or not any(message.string[1:]), message.id


@pytest.fixture
def compiled():
    ensure_compiled()


def test_login_page_is_chinese_by_default_and_english_on_request(compiled, client):
    page = client.get("/login")
    assert page.status_code == 200
    assert "登录" in page.text
    assert "被解救人员专门档案系统" in page.text
    assert "Log in" not in page.text

    switch = client.get("/language/en")
    assert switch.status_code == 302
    page = client.get("/login")
    assert page.status_code == 200
    assert "Log in" in page.text
    assert "登录" not in page.text

    client.get("/language/zh_CN")
    assert "登录" in client.get("/login").text


def test_no_translation_breaks_string_formatting():
    """Jinja's gettext always applies ``%`` formatting: a bare ``%`` in a translation is a 500 page."""
    with open(PO, "rb") as fh:
        catalog = read_po(fh)
    broken = []
    for message in catalog:
        if not message.id:
            continue
        for text in (message.string if isinstance(message.string, (list, tuple)) else [message.string]):
            try:
                (text or "") % _Anything()
            except (ValueError, TypeError) as exc:
                broken.append(f"{message.id!r}: {exc}")
    assert not broken


class _Anything(dict):
    def __missing__(self, key):
        return 1
