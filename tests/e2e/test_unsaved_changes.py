"""The unsaved-changes warning (victimcare/static/js/forms.js) in a real browser: leaving a changed form
asks first; an untouched form, a search form and a submitted form do not."""
from __future__ import annotations

import re


def _watch_dialogs(page, answer: str = "dismiss") -> list[str]:
    seen: list[str] = []

    def on_dialog(dialog):
        seen.append(dialog.type)
        getattr(dialog, answer)()
    page.on("dialog", on_dialog)
    return seen


def _go_home(page) -> None:
    page.locator("header nav a").first.click()
    page.wait_for_timeout(400)  # a question, if any, has come and been answered by now


def test_leaving_a_changed_form_asks_and_staying_keeps_the_input(page, login, orgs, make_user):
    login(page, make_user("caseworker", orgs["shelter_a"]))
    page.goto("/people/new")
    seen = _watch_dialogs(page, "dismiss")
    page.locator("#name").fill("尚未保存")
    _go_home(page)
    assert seen == ["beforeunload"]
    assert page.url.endswith("/people/new") and page.locator("#name").input_value() == "尚未保存"


def test_untouched_search_and_submitted_forms_leave_without_a_question(page, login, orgs, make_user):
    login(page, make_user("caseworker", orgs["shelter_a"]))
    seen = _watch_dialogs(page, "accept")
    page.goto("/people/new")
    _go_home(page)                                   # untouched
    page.goto("/people/")
    page.locator("main form.filters input[name=q]").fill("张")
    _go_home(page)                                   # a search form (GET)
    page.goto("/people/new")
    page.locator("#name").fill("已保存")
    page.locator("#estimated_age").fill("12")
    page.locator("main form.sections button.primary").click()
    page.wait_for_url(re.compile(r".*/people/[0-9a-f]{32}$"))
    _go_home(page)                                   # saved
    assert seen == []


def test_a_form_shown_again_with_messages_holds_unsaved_input_until_cancelled(page, login, orgs, make_user):
    login(page, make_user("caseworker", orgs["shelter_a"]))
    page.goto("/people/new")
    page.locator("#name").fill("缺少年龄")
    page.locator("main form.sections button.primary").click()  # no date of birth or age: shown again
    page.wait_for_load_state()
    assert page.locator(".has-error").count() > 0
    seen = _watch_dialogs(page, "dismiss")
    page.locator("main h1").click()  # the page has been used (the browser asks only then)
    _go_home(page)
    assert seen == ["beforeunload"] and page.url.endswith("/people/new")
    page.locator("main form.sections .actions a").click()  # Cancel: leaving is what was asked for
    page.wait_for_url(re.compile(r".*/people/$"))
    assert seen == ["beforeunload"]
