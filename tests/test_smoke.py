from .conftest import login


def test_caseworker_logs_in_and_sees_caseload(client, orgs, make_user, make_person):
    user = make_user("caseworker", orgs["shelter_a"])
    make_person(orgs["shelter_a"], name="李小红")
    assert login(client, user).status_code == 302
    page = client.get("/people/")
    assert page.status_code == 200
    assert "李小红" in page.text
