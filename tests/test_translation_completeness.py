"""Every user-visible string reaches the Simplified Chinese catalogue.

tests/test_i18n.py checks the messages pybabel extracts. The gaps it leaves close here:

1. a gettext alias that is not an extraction keyword never reaches the catalogue; every message
   extracted with the keywords the source actually imports needs a non-empty, non-fuzzy Chinese
   translation, plural forms included; a label must not carry its Chinese inside the English
   message ("Temporary assistance (临时救助)" showed Chinese on the English screen);
2. text never wrapped in ``_()``: template text and the attributes people read or hear (Jinja's
   lexer + an HTML parser), and string literals where Python shows them (flash, abort, form labels,
   descriptions, choices, validation messages, message tables, export headers) — via ``ast``;
3. the catalogue in use: pages rendered in the default language show no catalogue message in English
   (a missing compile, a mis-named locale folder).

The scanners and the allow-list (text deliberately left untranslated, each with its reason) are in
tests/translation_support.py.
"""
from __future__ import annotations

import os
import re

import pytest
from babel.messages.pofile import read_po

from victimcare.extensions import db

from .test_i18n import PO, ROOT
from .translation_support import (CJK, GETTEXT_NAMES, KEYWORDS, MARK, PACKAGE, SourceModule, english_messages,
                                  english_on, extract_messages, gettext_aliases, is_text, module_problems,
                                  python_modules, template_markup, template_problems, template_strings,
                                  visible_text)


# == 1. every message the source marks has a translation ============================================
def test_every_gettext_alias_is_an_extraction_keyword():
    """A string wrapped in an alias pybabel does not know is never extracted, so never translated."""
    unknown = gettext_aliases() - set(KEYWORDS)
    assert not unknown, f"add to babel's keywords (babel.cfg header, test_i18n, here): {sorted(unknown)}"
    assert GETTEXT_NAMES <= set(KEYWORDS)




@pytest.fixture(scope="module")
def catalogue():
    with open(PO, "rb") as fh:
        return read_po(fh, locale="zh_Hans_CN")


def test_every_extracted_message_has_a_chinese_translation(catalogue):
    found = extract_messages()
    assert len(found) > 100, "extraction found (almost) nothing: is babel.cfg right?"
    problems = []
    for (msgid, context), (plural, places) in sorted(found.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        entry = catalogue.get(msgid, context=context)
        strings = () if entry is None else (entry.string if isinstance(entry.string, tuple) else (entry.string,))
        if entry is None:
            state = "missing"
        elif entry.fuzzy or not all(s and s.strip() for s in strings):
            state = "fuzzy" if entry.fuzzy else "empty"
        elif plural != entry.pluralizable:  # ngettext() needs msgid_plural/msgstr[n], and the reverse
            state = "plural form differs"
        else:
            continue
        problems.append(f"{state}: {msgid!r} ({', '.join(places[:2])})")
    assert not problems, (f"{len(problems)} message(s) lack a Chinese translation in "
                          f"{os.path.relpath(PO, ROOT)} (commands: tests/test_i18n.py):\n" + "\n".join(problems))


def test_no_label_carries_chinese_in_its_english_message():
    """A label (an option, a field, a heading) is plain English in the source and Chinese in the
    catalogue: "Temporary assistance (临时救助)" showed Chinese on the English screen and repeated
    the term on the Chinese one. Sentences may still quote a Chinese provision or term."""
    labels = sorted({f"{msgid!r} ({places[0]})" for (msgid, _c), (_plural, places) in extract_messages().items()
                     if CJK.search(msgid) and not re.search(r"[.:。：!?]\)?$", msgid.strip())})
    assert not labels, "keep the Chinese in the catalogue, not in the English message:\n" + "\n".join(labels)


# == 2. no text outside _() ==========================================================================
def test_templates_have_no_unwrapped_text():
    problems = template_problems()
    assert not problems, ("wrap in {{ _(...) }} (or add to ALLOWED with a reason):\n" + "\n".join(problems))


def test_python_shows_no_unwrapped_text():
    modules = python_modules()
    problems = sorted(p for module in modules.values() for p in module_problems(module, modules))
    assert not problems, ("wrap in _()/_l() (or add to ALLOWED with a reason):\n" + "\n".join(problems))


# == the scanners themselves find what they are for ==================================================
def test_the_scanners_find_unwrapped_text():
    template = """{% extends "base.html" %}{% block style %}h1 { color: red; }{% endblock %}
<h1>{{ _("Wrapped") }}</h1><p>Not wrapped {{ x }}</p>
<input placeholder="Search" value="kept"><button type="submit" value="Go"></button>
<img alt="{{ _('Photo') }}"><a href="/language/en" lang="en">English</a> · {{ n }} KB
{{ field(f, hint="Type here") }}{{ _("As %(m)s", m="Raw value") }}{% if x == "due" %}<span class="{{ 'button primary' }}">&nbsp;—</span>{% endif %}"""
    texts = [t for _line, t in visible_text(template_markup(template)) if is_text(t)]
    assert [" ".join(t.replace(MARK, " ").split()) for t in texts] == ["Not wrapped", "Search", "Go"]
    assert [s for _line, s in template_strings(template)] == ["Type here", "Raw value"]

    forms = PACKAGE / "example" / "forms.py"
    source = """from flask_babel import lazy_gettext as _l
from .messages import GONE
LABELS = {"a": _l("Fine"), "b": "Shown raw"}
ERRORS = {"x": "Broken date"}
STEP_LABELS = {"done": "Done", "open": _l("Open")}
NOTE = "不在目录"
def summary_table(stats):
    header = ["Figure", _("Count"), "n"]
    return header, [[_("Period"), "%Y-%m-%d %H:%M", {"Sheet title": 1}]]
class F(FlaskForm):
    kind = SelectField("Kind", choices=options(LABELS, blank="Pick one"), description=_l("Fine"))
    day = DateField(_l("Day"), validators=[DataRequired("Give it."), Length(message=_l("Fine"))])
    def validate_day(self, field):
        raise ValidationError(ERRORS["x"])
def view():
    flash(GONE, "error")
    flash(_("Saved"), "success")
    form.day.errors.append("Too late")
    abort(400, f"Bad {x}")
    return render_template("x.html", purpose="Printed for a meeting", state="open")
"""
    modules = {str(forms): SourceModule(forms, source),
               str(forms.parent / "messages.py"): SourceModule(forms.parent / "messages.py", 'GONE = "It is gone."')}
    found = {p.split(": ", 2)[2] for p in module_problems(modules[str(forms)], modules)}
    assert found == {"'Shown raw'", "'Pick one'", "'Kind'", "'Give it.'", "'Broken date'", "'It is gone.'",
                     "'Bad {…}'", "'Too late'", "'Printed for a meeting'",
                     "'不在目录'", "'Figure'", "'Sheet title'", "'Done'"}, found


# == 3. pages in the default language show no catalogue message in English =========================
def test_pages_show_no_untranslated_message(catalogue, client, orgs, logged_in, make_person):
    """Chinese by default: a caseworker's everyday pages, in the default language, show no English
    interface text (a missing .mo, a mis-named locale folder or a string formatted before the
    request's locale is known would all show here)."""
    english = english_messages(catalogue)
    client.get("/language/en")  # the check itself: an English page is caught
    assert any(msgid == "Log in" for msgid, _text in english_on(client.get("/login").text, english))
    client.get("/language/zh_CN")
    assert "登录" in client.get("/login").text
    user = logged_in("caseworker", orgs["shelter_a"])
    user.display_name = "王社工"  # the factory's "Caseworker" is data, but reads like interface text
    db.session.commit()
    person = make_person(orgs["shelter_a"], by=user)
    leaks = []
    for url in ("/", "/account", "/people/", "/people/new", f"/people/{person.id}",
                f"/people/{person.id}/placements", f"/people/{person.id}/history", "/nowhere"):
        page = client.get(url)
        assert page.status_code == (404 if url == "/nowhere" else 200), url
        leaks += [f"{url}: {msgid!r} in {text[:120]!r}" for msgid, text in english_on(page.text, english)]
    assert not leaks, "English on a Chinese page (is the catalogue compiled?):\n" + "\n".join(sorted(set(leaks)))
