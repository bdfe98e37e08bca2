"""Accessibility of the journeys' pages (issue 6, point 5), in Chromium.

1. axe-core (pinned in tests/e2e/package-lock.json, see axe.py) on every page the journeys pass, as
   the role that uses it, in Chinese and in English, in the states a user meets (empty forms, forms
   with the server's messages, the duplicate warning, the two-factor steps): no serious or critical
   violation (WCAG 2.0-2.2 A/AA rules and axe's best practices).
2. Keyboard only: log in and register a person (the place of origin from the lists included) with
   Tab, Shift+Tab, Enter, arrow keys and typing; the focus visits the form's controls in document
   order up to the submit button, and every focused element shows an indicator (its outline or
   shadow changes) with at least 3:1 contrast against the background around it (WCAG 1.4.11, 2.4.7).
3. The skip link is the first stop, visible when focused, and moves the focus past the navigation.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from victimcare.extensions import db

from ..conftest import PASSWORD, totp_code
from . import axe
from .conftest import release_database

pytestmark = pytest.mark.e2e

TODAY = dt.date.today()
LANGUAGES = ("zh_CN", "en")
HTML_LANG = {"zh_CN": "zh-CN", "en": "en"}


def months_ago(n: int) -> dt.date:
    from victimcare.placements.rules import add_months
    return add_months(TODAY, -n)


# -- the data the journeys reach --------------------------------------------------------------------
@pytest.fixture
def world(orgs, make_user, make_person):
    """The journeys' people and users: a child placed four months ago with unknown identity (the
    residence application is due), referred to the hospital that logged a visit; an adult whose
    application is drafted; one whose application went to the police, who accepted the referral."""
    from victimcare.medical import service as medical
    from victimcare.placements import residence
    from victimcare.placements import service as placements
    from victimcare.referrals import service as referrals
    from victimcare.referrals.models import Referral

    users = {role: make_user(role, orgs[org]) for role, org in
             (("caseworker", "shelter_a"), ("clinician", "hospital"), ("police", "police"), ("manager", "bureau"))}
    worker = users["caseworker"]

    def placed(name, months, **fields):
        person = make_person(orgs["shelter_a"], by=worker, name=name, rescue_date=months_ago(months + 1), **fields)
        stay = placements.admit(person, {"placement_type": "temporary_assistance", "organisation_id": None,
                                         "institution_name": "甲救助站本部", "household_relation": "none",
                                         "admitted_on": months_ago(months), "discharged_on": None}, worker)
        return person, stay

    def drafted(person):
        return residence.draft(person, {"name": person.name, "sex": "female", "date_of_birth": None,
                                        "birth_year": 2000, "rescue_date": None, "institution": "甲救助站",
                                        "statement": "多次查找未果"}, worker)

    child, stay = placed("林小梅", 4, date_of_birth=dt.date(2014, 3, 8))
    referral = referrals.refer(child, orgs["hospital"], "体检", worker)
    referrals.accept(referral, users["clinician"])
    visit = medical.add_visit(child, {"visit_date": TODAY - dt.timedelta(days=3), "visit_type": "basic_medical",
                                      "diagnosis": "营养不良", "notes": "复查", "total_cost": Decimal("1280.50"),
                                      "insurance_paid": Decimal("800.00")}, users["clinician"])
    drafted_person, _ = placed("阿花", 5, date_of_birth=dt.date(1998, 1, 2))
    draft = drafted(drafted_person)
    submitted_person, _ = placed("无名氏", 5, date_of_birth=dt.date(1995, 6, 1))
    submitted = drafted(submitted_person)
    db.session.flush()
    residence.submit(submitted, submitted_person, orgs["police"], TODAY, worker, submitted.version)
    db.session.flush()
    referrals.accept(db.session.get(Referral, submitted.referral_id), users["police"])
    db.session.commit()
    ids = {"child": child.id, "case": child.case_number, "stay": stay.id, "visit": visit.id,
           "drafted": drafted_person.id, "draft": draft.id, "submitted": submitted_person.id}
    release_database()
    return users, ids


def pages_of(role: str, ids: dict) -> list[str]:
    """The pages of the journeys each role uses (GET)."""
    child, case = ids["child"], ids["case"]
    return {
        "caseworker": ["/", f"/people/?q={case}", "/people/new", f"/people/{child}",
                       f"/people/{child}/placements", f"/placements/{ids['stay']}/edit", f"/people/{child}/referrals",
                       "/residence/", f"/people/{child}/residence",
                       f"/people/{child}/residence/draft", f"/people/{ids['drafted']}/residence",
                       f"/residence/applications/{ids['draft']}/edit", f"/people/{ids['submitted']}/residence",
                       f"/people/{child}/print", "/account", "/account/two-factor"],
        "clinician": ["/", "/referrals/", f"/people/{child}", f"/people/{child}/medical",
                      f"/medical/visits/{ids['visit']}/edit", "/ledgers/medical", "/account"],
        "police": ["/", "/referrals/", f"/people/{ids['submitted']}", f"/people/{ids['submitted']}/residence"],
        # The manager's own pages; the others render as the caseworker's (same templates, more sections).
        "manager": ["/", "/people/", f"/people/{child}", f"/people/{child}/print", "/print/batch",
                    "/account/two-factor"],
    }[role]


# Forms in the states the server answers with, per role: (page, form, values typed, what then shows).
# Empty: every field's message; the child's name and date of birth again: the duplicate warning.
POSTED = {
    "caseworker": [("/people/new", "main form.sections", {}, "main .error"),
                   ("/people/new", "main form.sections", {"#name": "林小梅", "#date_of_birth": "2014-03-08"},
                    "#possible-duplicates"),
                   ("/people/{child}/placements", "main section.card form", {}, "main .error"),
                   ("/people/{child}/residence/draft", "main form", {}, "main .error")],
    "clinician": [("/people/{child}/medical", "#new-visit form", {}, "main .error"),
                  ("/people/find?q=320100-2000-99999", None, {}, "main .flash-error")],
}


class Findings:
    """Serious and critical axe findings over many pages, reported together at the end."""

    def __init__(self):
        self.failures: list[str] = []
        self.checked = 0

    def check(self, page, label: str, lang: str | None = None) -> None:
        if lang:  # the page is in the language being checked (and says so, for screen readers)
            assert page.locator("html").get_attribute("lang") == HTML_LANG[lang], (label, page.url)
        self.checked += 1
        bad = axe.blocking(axe.violations(page))
        if bad:
            self.failures.append(f"-- {label} ({page.url})\n{axe.describe(bad)}")

    def assert_none(self) -> None:
        assert not self.failures, "axe: serious or critical violations\n" + "\n".join(self.failures)


def _set_language(page, code: str) -> None:
    page.goto(f"/language/{code}?next=/")


def _open(page, path: str) -> None:
    response = page.goto(path)
    assert response.status == 200, (path, response.status)


def _post(page, form: str | None, values: dict, shows: str) -> None:
    """Empty the form's text boxes, type ``values``, press its last submit button (Save), and check
    that the answer shows ``shows`` (a form of None: the page itself is the answer)."""
    if form:
        page.locator(f"{form} :is(input[type=text], input[type=number], input[type=date], textarea)").evaluate_all(
            "els => els.forEach(e => { e.value = ''; })")
        for selector, value in values.items():
            page.locator(f"{form} {selector}").fill(value)
        with page.expect_navigation():
            page.locator(f"{form} button[type=submit]").last.click()
    assert page.locator(shows).count() > 0, (shows, page.locator("main").inner_text()[:500])


def test_axe_runs_the_pinned_version_and_reports_what_it_finds(page):
    """The checks below pass only because axe looked: the pinned copy runs under the page's CSP and
    an unlabelled field, low-contrast text and a nameless button on a real page are reported."""
    import json
    import pathlib
    lock = json.loads((pathlib.Path(axe.__file__).parent / "package-lock.json").read_text())
    page.goto("/login")
    assert axe.version(page) == lock["packages"]["node_modules/axe-core"]["version"]
    assert "script-src 'self'" in page.request.get("/login").headers["content-security-policy"]
    assert axe.blocking(axe.violations(page)) == []
    page.evaluate("""() => {
        const main = document.querySelector('main');
        main.append(document.createElement('input'), document.createElement('button'));
        const faint = document.createElement('p'); faint.textContent = '浅色文字'; faint.style.color = '#bbb';
        main.append(faint); }""")
    found = {v["id"] for v in axe.blocking(axe.violations(page))}
    assert {"label", "button-name", "color-contrast"} <= found, found


@pytest.mark.parametrize("role", ["caseworker", "clinician", "police", "manager"])
def test_the_journeys_pages_have_no_serious_axe_violations(page, login, world, role):
    users, ids = world
    axe.install(page)
    findings = Findings()
    login(page, users[role])
    for code in LANGUAGES:
        _set_language(page, code)
        for path in pages_of(role, ids):
            _open(page, path)
            findings.check(page, f"{role} {code} {path}", code)
        for path, form, values, shows in POSTED.get(role, []):
            page.goto(path.format(**ids))
            _post(page, form, values, shows)
            findings.check(page, f"{role} {code} {path} showing {shows}", code)
    assert findings.checked >= 2 * len(pages_of(role, ids))
    findings.assert_none()


@pytest.mark.parametrize("code", LANGUAGES)
def test_the_log_in_and_two_factor_pages_have_no_serious_axe_violations(page, orgs, make_user, code):
    """Log-in (empty, wrong password), a manager's first log-in (two-factor set-up, a wrong code,
    the recovery codes) and a later one (the code page, a wrong code)."""
    import pyotp
    manager = make_user("manager", orgs["bureau"], totp=False)
    username = manager.username
    release_database()
    axe.install(page)
    findings = Findings()
    page.goto(f"/language/{code}")
    assert page.url.endswith("/login")
    findings.check(page, "log-in", code)
    _password(page, username, "wrong password")
    assert page.locator("main .flash-error").count() == 1
    findings.check(page, "log-in, wrong password", code)

    _password(page, username, PASSWORD)
    assert page.url.endswith("/login/two-factor"), page.url
    findings.check(page, "two-factor set-up", code)
    secret = page.locator("code.totp-secret").inner_text().replace(" ", "")
    _code(page, "000000")
    findings.check(page, "two-factor set-up, wrong code", code)
    _code(page, pyotp.TOTP(secret).now())
    assert page.locator("main ol.recovery-codes code").count() == 10
    findings.check(page, "recovery codes", code)

    # Logging out straight from the recovery codes (this page's forms once carried a stale CSRF token).
    with page.expect_navigation():
        page.locator("header .account button[type=submit]").click()
    assert page.url.endswith("/login"), page.url
    page.goto(f"/language/{code}")  # logging out forgets the language (the session is cleared)
    _password(page, username, PASSWORD)
    assert page.url.endswith("/login/code"), page.url
    findings.check(page, "two-factor code", code)
    _code(page, "000000")
    findings.check(page, "two-factor code, wrong code", code)
    from victimcare.auth.models import User
    account = db.session.scalar(select(User).where(User.username == username))
    _code(page, totp_code(account.id, account.totp_secret))
    assert page.url.endswith("/"), page.url
    findings.check(page, "home after the code", code)
    findings.assert_none()


def _password(page, username: str, password: str) -> None:
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()


def _code(page, code: str) -> None:
    page.locator("#code").fill(code)
    with page.expect_navigation():
        page.locator("main form button[type=submit]").click()


# -- keyboard only -----------------------------------------------------------------------------------
# The element that has the focus: where it is in the list tagged by _tag_tabbable, what it is, how its
# focus indicator looks, and the colour behind it (the first ancestor with an opaque background).
_ACTIVE = """() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const cs = getComputedStyle(el);
  let bg = 'rgb(255, 255, 255)';
  for (let p = el.parentElement; p; p = p.parentElement) {
    const c = getComputedStyle(p).backgroundColor;
    if (c && c !== 'transparent' && !/rgba\\(.*,\\s*0\\)$/.test(c)) { bg = c; break; }
  }
  return {index: el.dataset.a11yIndex === undefined ? null : Number(el.dataset.a11yIndex), id: el.id,
          what: el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') + (el.name ? '[name=' + el.name + ']' : ''),
          href: el.getAttribute('href'), inMain: !!el.closest('main'),
          style: {outline: cs.outlineStyle === 'none' ? 'none' : cs.outlineStyle + ' ' + cs.outlineWidth + ' ' + cs.outlineColor,
                  shadow: cs.boxShadow}, background: bg};
}"""

# Tag the form's controls a keyboard user must be able to reach, in document order, and return each
# one's unfocused look: what it is, outline and shadow.
_TAG_TABBABLE = """(form) => {
  const seenRadio = new Set();
  const els = Array.from(form.querySelectorAll('input, select, textarea, button, a[href]')).filter(e => {
    if (e.type === 'hidden' || e.disabled || e.tabIndex < 0 || !e.getClientRects().length) return false;
    if (getComputedStyle(e).visibility === 'hidden') return false;
    if (e.type === 'radio') { if (seenRadio.has(e.name)) return false; seenRadio.add(e.name); }
    return true;
  });
  return els.map((e, i) => {
    e.dataset.a11yIndex = String(i);
    const cs = getComputedStyle(e);
    return {what: e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.name ? '[name=' + e.name + ']' : ''),
            required: e.required, submit: e.type === 'submit' && e.classList.contains('primary'),
            style: {outline: cs.outlineStyle === 'none' ? 'none' : cs.outlineStyle + ' ' + cs.outlineWidth + ' ' + cs.outlineColor,
                    shadow: cs.boxShadow}};
  });
}"""

_COLOUR = re.compile(r"rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)")


def _luminance(rgb) -> float:
    def channel(c):
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(float(c)) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((_luminance(_COLOUR.search(a).groups()), _luminance(_COLOUR.search(b).groups())), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def _indicator_colours(style: dict) -> list[str]:
    colours = []
    if style["outline"] != "none":
        width = float(re.search(r"([\d.]+)px", style["outline"]).group(1))
        if width >= 2:
            colours += [m.group(0) for m in _COLOUR.finditer(style["outline"])]
    if style["shadow"] != "none":
        colours += [m.group(0) for m in _COLOUR.finditer(style["shadow"]) if m.group(4) not in ("0",)]
    return colours


def assert_visible_focus(active: dict, unfocused: dict | None = None) -> None:
    """The focused element looks different from its unfocused self, through an outline (2px or more)
    or a shadow, one of whose colours has 3:1 or more against the background around the element."""
    assert active is not None, "nothing has the focus"
    if unfocused is not None:
        assert active["style"] != unfocused["style"], f"no focus indicator on {active['what']}: {active['style']}"
    colours = _indicator_colours(active["style"])
    assert colours, f"no focus indicator on {active['what']}: {active['style']}"
    best = max(contrast(c, active["background"]) for c in colours)
    assert best >= 3, (f"focus indicator of {active['what']} has {best:.2f}:1 against {active['background']}: "
                       f"{active['style']}")


def _active(page) -> dict | None:
    return page.evaluate(_ACTIVE)


def _press(page, key: str) -> dict | None:
    page.keyboard.press(key)
    return _active(page)


def tab_to(page, matches, limit: int = 60, key: str = "Tab") -> list[dict]:
    """Press Tab (or Shift+Tab) until ``matches(active)``; every stop on the way shows its focus."""
    stops = []
    for _ in range(limit):
        active = _press(page, key)
        if active is None:
            continue
        assert_visible_focus(active)
        stops.append(active)
        if matches(active):
            return stops
    raise AssertionError(f"{key} never reached the target; stops: {[s['what'] for s in stops]}")


def _segmented_date_today_year(page) -> None:
    """A native date input by keyboard alone, whatever order the browser's locale gives its
    year/month/day parts: ArrowUp on each empty part sets it (month 1, day 1, the current year)."""
    for key in ("ArrowUp", "Tab", "ArrowUp", "Tab", "ArrowUp"):
        page.keyboard.press(key)


# What the keyboard user types into which field of the registration form (keyed by id).
REGISTRATION_KEYS = {
    "name": lambda page: page.keyboard.type("键盘登记"),
    "sex": lambda page: page.keyboard.press("ArrowDown"),           # female -> male
    "estimated_age": lambda page: page.keyboard.type("17"),
    "origin_province": lambda page: page.keyboard.press("ArrowDown"),  # the first province
    # region.js fills the city list when the province changes: wait for it as the user would.
    "origin_city": lambda page: (page.locator("#origin_city option").nth(1).wait_for(state="attached"),
                                 page.keyboard.press("ArrowDown")),
    "rescue_date": _segmented_date_today_year,
    "rescue_place": lambda page: page.keyboard.type("火车站"),
    "notes": lambda page: page.keyboard.type("只用键盘登记。"),
}


def test_keyboard_only_log_in_and_registration(page, orgs, make_user):
    from victimcare.people.models import Person
    caseworker = make_user("caseworker", orgs["shelter_a"])
    username = caseworker.username
    release_database()

    # Log in: the skip link first, then the header, then the two fields and the button.
    page.goto("/login")
    stops = tab_to(page, lambda a: a["id"] == "username")
    assert stops[0]["href"] == "#main", [s["what"] for s in stops]
    page.keyboard.type(username)
    assert_visible_focus(_press(page, "Tab"))
    assert _active(page)["id"] == "password"
    page.keyboard.type(PASSWORD)
    submit = _press(page, "Tab")
    assert submit["what"].startswith("button"), submit
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/"), page.url

    # To the registration form through the main navigation: skip it, then come back with Shift+Tab.
    skip = _press(page, "Tab")
    assert skip["href"] == "#main"
    page.keyboard.press("Enter")
    first_in_main = _press(page, "Tab")
    assert first_in_main["inMain"], first_in_main
    tab_to(page, lambda a: a["href"] == "/people/new", key="Shift+Tab")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url.endswith("/people/new"), page.url

    # The form: every control in document order, the required ones among them, the submit last.
    controls = page.locator("main form.sections").evaluate(_TAG_TABBABLE)
    assert [c["what"] for c in controls if c["submit"]], controls
    tab_to(page, lambda a: a["index"] == 0)
    visited, keys = [0], dict(REGISTRATION_KEYS)
    for _ in range(200):
        active = _active(page)
        assert_visible_focus(active, controls[active["index"]] if active["index"] is not None else None)
        if controls[active["index"]]["submit"]:
            break
        if active["id"] in keys:
            keys.pop(active["id"])(page)
        active = _press(page, "Tab")
        assert active is not None and active["index"] is not None, f"the focus left the form at {active}"
        if active["index"] != visited[-1]:  # a date input takes several presses (its parts, its picker)
            visited.append(active["index"])
    else:
        raise AssertionError("Tab never reached the submit button")
    assert not keys, f"fields never focused: {list(keys)}"
    up_to_submit = [c["what"] for c in controls[:visited[-1] + 1]]
    assert [controls[i]["what"] for i in visited] == up_to_submit, "the focus skipped or reordered controls"
    assert all(c["what"] in up_to_submit for c in controls if c["required"])

    city = page.locator("#origin_city").input_value()
    assert re.fullmatch(r"\d{6}", city), city
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert re.search(r"/people/[^/]+$", page.url), page.locator("main").inner_text()[:800]
    # The file's tabs say which section is shown, in words for screen readers and not by colour alone.
    current = page.locator('header.file-header nav a[aria-current="page"]')
    assert current.count() == 1 and current.get_attribute("href") == urlsplit(page.url).path
    assert current.evaluate("e => getComputedStyle(e).fontWeight") == "700"
    person = db.session.scalar(select(Person).where(Person.organisation_id == orgs["shelter_a"].id))
    assert (person.name, person.sex, person.birth_year, person.birth_date_estimated) == \
        ("键盘登记", "male", TODAY.year - 17, True)
    assert (person.origin_code, person.rescue_date, person.rescue_place, person.notes) == \
        (city, dt.date(TODAY.year, 1, 1), "火车站", "只用键盘登记。")
    release_database()


def test_the_skip_link_is_visible_when_focused_and_skips_the_navigation(page, login, orgs, make_user):
    login(page, make_user("caseworker", orgs["shelter_a"]))
    skip = page.locator("a.skip")
    assert skip.bounding_box()["x"] + skip.bounding_box()["width"] <= 0  # off-screen until focused
    active = _press(page, "Tab")
    assert active["href"] == "#main"
    box = skip.bounding_box()
    assert box["x"] >= 0 and box["y"] >= 0 and box["width"] > 0
    assert page.evaluate("([x, y]) => document.elementFromPoint(x, y).closest('a.skip') !== null",
                         [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2])
    page.keyboard.press("Enter")
    nav_links = page.locator("header nav a").count()
    assert nav_links >= 3
    first = _press(page, "Tab")
    assert first["inMain"], first  # past the header's links and search


def test_the_focus_ring_shows_on_light_and_dark_backgrounds(page, login, orgs, make_user):
    """A link in the dark header, a primary button, a text box, each measured on its background."""
    login(page, make_user("caseworker", orgs["shelter_a"]))
    page.goto("/people/new")
    for selector in ("header nav a", "#quick-q", "main form.sections button.primary", "#name"):
        page.locator(selector).first.focus()
        page.keyboard.press("Shift+Tab")
        page.keyboard.press("Tab")  # keyboard focus, so :focus-visible applies
        active = _active(page)
        assert active is not None, selector
        assert_visible_focus(active)
