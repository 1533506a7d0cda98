"""What the black-box probe of issue 18 sent to a running site, on PostgreSQL: NUL bytes,
unknown methods, wrong hosts. Nothing may answer 5xx, and the API answers JSON."""

import pytest

pytestmark = pytest.mark.django_db

NUL_PAGES = [
    "/?category=%00",
    "/search?q=%00",
    "/search?q=x&category=%00",
    "/feeds/category/a%00.rss",
    "/papers/a%00b/",
    "/papers/a%00b/report/",
    "/digests/2026-06-12/?papers=%00",
]


@pytest.mark.parametrize("path", NUL_PAGES)
def test_a_nul_byte_anywhere_in_a_page_address_is_a_400(client, corpus, path):
    response = client.get(path)
    assert response.status_code == 400
    assert b"Traceback" not in response.content


def test_a_nul_byte_in_a_posted_form_is_a_400(client, corpus):
    response = client.post("/papers/2512.13689/report/", {"reason": "spam\x00"})
    assert response.status_code == 400


def test_a_nul_byte_in_an_api_parameter_is_a_json_400_naming_it(client, corpus):
    response = client.get("/api/me/papers/", {"token": "a\x00b"})
    assert response.status_code == 400
    assert response.json()["token"]


def test_a_nul_byte_in_an_api_path_is_a_json_400(client, corpus):
    response = client.get("/api/papers/%00/")
    assert response.status_code == 400
    assert response.json()["detail"]
