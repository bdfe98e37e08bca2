"""The place-of-origin picker in a real browser (victimcare/static/js/region.js): the lists fill from
the division table as the province and city are chosen, the no-JavaScript buttons are hidden, and
Enter in a text field saves instead of pressing a "choose" button."""
from __future__ import annotations

from sqlalchemy import select

from victimcare.extensions import db
from victimcare.people.models import Person


def _option(page, select: str, code: str):
    """Wait until the script has put this option in the list (the page's CSP forbids eval, so no
    wait_for_function)."""
    page.locator(f"{select} option[value='{code}']").wait_for(state="attached")


def _fill_identity(page):
    page.locator("#name").fill("林小燕")
    page.locator("#date_of_birth").fill("2010-01-01")


def test_choosing_a_province_and_city_fills_the_next_lists(page, login, orgs, make_user):
    login(page, make_user("caseworker", orgs["shelter_a"]))
    page.goto("/people/new")
    assert page.locator("button.region-choose").first.is_hidden()
    _fill_identity(page)
    page.select_option("#origin_province", "530000")
    _option(page, "#origin_city", "530100")
    assert page.locator("#origin_city option[value='530100']").inner_text() == "昆明市"
    page.select_option("#origin_city", "530100")
    _option(page, "#origin_county", "530102")
    page.select_option("#origin_county", "530102")
    # Another province empties the lists below it and fills the city list again.
    page.select_option("#origin_province", "110000")
    _option(page, "#origin_city", "110101")
    assert page.locator("#origin_county option").count() == 1
    page.select_option("#origin_city", "110101")
    page.wait_for_timeout(300)  # a district has no third level: the list stays empty
    assert page.locator("#origin_county option").count() == 1
    page.locator("main form.sections button.primary").click()
    page.wait_for_load_state()
    assert "北京市 东城区 (110101)" in page.locator("main").inner_text()
    db.session.rollback()
    assert db.session.scalars(select(Person)).one().origin_code == "110101"


def test_enter_in_a_text_field_saves(page, login, orgs, make_user):
    login(page, make_user("caseworker", orgs["shelter_a"]))
    page.goto("/people/new")
    _fill_identity(page)
    page.select_option("#origin_province", "420000")
    _option(page, "#origin_city", "429004")
    page.select_option("#origin_city", "429004")
    page.locator("#name").press("Enter")
    page.wait_for_load_state()
    assert "湖北省 仙桃市 (429004)" in page.locator("main").inner_text()
