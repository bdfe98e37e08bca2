"""Helpers for the browser journeys: screenshots, the language round trip, log-out, small form steps."""
from __future__ import annotations

import os
import re
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCREENSHOTS = os.path.join(ROOT, "test-artifacts", "screenshots")
ARTIFACTS = os.path.join(ROOT, "test-artifacts")

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN_WORD = re.compile(r"[A-Za-z]{3,}")
BRAND = {"zh": "被解救人员专门档案系统", "en": "Victim care records"}


def shot(page, name: str) -> str:
    """A full-page PNG of the current page, test-artifacts/screenshots/<name>.png."""
    os.makedirs(SCREENSHOTS, exist_ok=True)
    path = os.path.join(SCREENSHOTS, f"{name}.png")
    page.screenshot(path=path, full_page=True)
    return path


def where(page) -> str:
    """The page's path and query: what the language switch must keep."""
    parts = urlsplit(page.url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


# What the language checks read, in one round trip to the browser. The heading is the first one in
# main outside a file's header (which shows the case number and name: data, the same in both languages).
_PAGE_TEXT = """() => {
  const text = (el) => el ? el.innerText.trim() : "";
  const heading = document.querySelector("main :is(h1, h2, h3):not(header.file-header *)");
  const labels = [...document.querySelectorAll("main label, main th, main button, main dt")];
  const shown = (el) => getComputedStyle(el).display !== "none";
  const root = document.documentElement;
  return {lang: root.lang, title: document.title,
          brand: text(document.querySelector("header .brand")), heading: text(heading),
          labels: labels.map(text).join(" "),
          // layout defects seen in the screenshots, checked on every page in both languages
          hidden_shown: [...document.querySelectorAll("[hidden]")].filter(shown).map((e) => e.outerHTML),
          tabs_broken: [...document.querySelectorAll(".tabs a")].filter((a) => a.getClientRects().length > 1)
                         .map(text),
          numbers_left: [...document.querySelectorAll("table td.num, table td.money")]
                          .filter((td) => !["right", "end"].includes(getComputedStyle(td).textAlign)).length,
          overflow_x: root.scrollWidth > root.clientWidth};
}"""


def assert_language(page, lang: str) -> None:
    """What the user sees is in ``lang``: the document language, the brand in the header, the title,
    the page's heading (Chinese characters in Chinese, English words in English) and, in English, the
    labels, column heads, buttons and terms (no Chinese left but the data)."""
    seen = page.evaluate(_PAGE_TEXT)
    assert seen["lang"] == ("zh-CN" if lang == "zh" else "en"), (page.url, seen["lang"])
    assert seen["brand"] == BRAND[lang], (page.url, seen["brand"])
    assert seen["title"].endswith(BRAND[lang]), (page.url, seen["title"])
    if lang == "zh":
        assert CJK.search(seen["heading"]), (page.url, seen["heading"])
    else:
        assert LATIN_WORD.search(seen["heading"]), (page.url, seen["heading"])
        assert not CJK.search(_without_data(seen["labels"])), (page.url, seen["labels"][:300])
    # Elements marked hidden stay hidden (a button's display rule used to override the attribute), a
    # file's section tab never breaks inside its name, amounts line up on the right, no sideways scroll.
    assert not seen["hidden_shown"], (page.url, seen["hidden_shown"])
    assert not seen["tabs_broken"], (page.url, seen["tabs_broken"])
    assert not seen["numbers_left"], page.url
    assert not seen["overflow_x"], page.url


# Data typed by the journeys and the organisation names of tests/conftest.py are Chinese in both
# interfaces; so are the Chinese terms the English labels quote on purpose, e.g. "(临时救助)".
_DATA = re.compile(r"[（(][^)）]*[\u4e00-\u9fff][^)）]*[)）]|[\u4e00-\u9fff]+(?:救助站|民政局|医院|派出所|审计室)")


def _without_data(text: str) -> str:
    return _DATA.sub("", text)


def language_round_trip(page, name: str | None = None) -> None:
    """On the current page: Chinese first; the header's language link switches to English on the same
    page; the link back returns to Chinese on the same page. ``name`` also saves both screenshots."""
    here = where(page)
    assert_language(page, "zh")
    if name:
        shot(page, f"{name}.zh")
    page.locator("header .lang a").click()
    page.wait_for_load_state()
    assert where(page) == here, (where(page), here)
    assert_language(page, "en")
    if name:
        shot(page, f"{name}.en")
    page.locator("header .lang a").click()
    page.wait_for_load_state()
    assert where(page) == here, (where(page), here)
    assert_language(page, "zh")


def flash_text(page) -> str:
    return " ".join(page.locator("main .flash").all_inner_texts())


def assert_success(page) -> str:
    """The answer page says the step was done (a success message, no error); returns the message."""
    problems = page.locator("main .flash-error, main .error").all_inner_texts()
    assert not problems, (page.url, problems)
    assert page.locator("main .flash-success").count(), (page.url, page.locator("main").inner_text()[:800])
    return " ".join(page.locator("main .flash-success").all_inner_texts())


def submit(page, form_selector: str) -> None:
    """Click the form's submit button and wait for the answer page."""
    page.locator(f"{form_selector} button[type=submit]").last.click()
    page.wait_for_load_state()


def log_out(page) -> None:
    page.locator("header .account button[type=submit]").click()
    page.wait_for_load_state()
    assert urlsplit(page.url).path == "/login", page.url


def open_tab(page, path_end: str) -> None:
    """Follow the file's section tab whose link ends with ``path_end`` (e.g. "/placements")."""
    page.locator(f'header.file-header nav a[href$="{path_end}"]').click()
    page.wait_for_load_state()
    assert urlsplit(page.url).path.endswith(path_end), page.url


def person_id_from_url(page) -> str:
    match = re.search(r"/people/([^/?#]+)", page.url)
    assert match, page.url
    return match.group(1)
