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


# --- Methods: link checkers send HEAD; nothing but GET, HEAD and POST reaches a page ------


@pytest.fixture
def reader_links(db):
    from digest.models import Delivery, DeliveryItem, Paper, Subscriber
    from digest.services import subscriptions
    from digest.services.sources.fetch import replay
    from tests.conftest import HF_DAILY

    replay(paths=[HF_DAILY])
    paper = Paper.objects.first()
    reader = Subscriber.objects.create(
        email="ada@example.org", status=Subscriber.Status.PENDING, interests="agents"
    )
    sent = Delivery.objects.create(subscriber=reader, local_date="2026-06-12")
    DeliveryItem.objects.create(delivery=sent, paper=paper, position=0, score=0.5)
    feedback = subscriptions.feedback_token(subscriber=reader, delivery_id=sent.pk)
    return reader, [
        f"/subscribe/confirm/{subscriptions.confirm_token(subscriber_id=reader.pk)}/",
        f"/preferences/{subscriptions.preferences_token(subscriber=reader)}/",
        f"/unsubscribe/{subscriptions.unsubscribe_token(subscriber=reader)}/",
        f"/feedback/{feedback}/{paper.pk}/more/",
    ]


def test_head_on_the_pages_emails_link_to_answers_like_get_and_changes_nothing(
    client, reader_links
):
    from digest.models import PaperFeedback

    reader, links = reader_links
    for link in links:
        head, get = client.head(link), client.get(link)
        assert head.status_code == get.status_code == 200, link
        assert head.content == b"" and head["Content-Type"] == get["Content-Type"]
    reader.refresh_from_db()
    assert reader.status == reader.Status.PENDING and reader.unsubscribed_at is None
    assert not PaperFeedback.objects.exists()


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "TRACE"])
@pytest.mark.parametrize("path", ["/", "/subscribe", "/search?q=x", "/preferences/x/"])
def test_other_methods_on_pages_are_405_naming_the_allowed_ones(client, method, path):
    response = client.generic(method, path)
    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD, POST"
    assert b"<html" not in response.content.lower()


def test_options_lists_the_methods_without_the_page(client):
    response = client.options("/subscribe")
    assert response.status_code == 200 and response["Allow"] == "GET, HEAD, POST"
    assert response.content == b""


# --- The API answers JSON whatever Django answers first ---------------------------------


def test_a_wrong_host_under_the_api_is_a_json_400(client):
    response = client.get("/api/papers/", HTTP_HOST="evil.example.net")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_a_missing_slash_under_the_api_is_a_json_301(client):
    response = client.get("/api/papers")
    assert response.status_code == 301 and response["Location"] == "/api/papers/"
    assert response.json()["detail"]


def test_the_schemas_429_is_json_not_openapi(client, settings, empty_cache, window_to_spare):
    settings.API_THROTTLE_RATE = "1/hour"
    assert client.get("/api/schema/").status_code == 200
    refused = client.get("/api/schema/")
    assert refused.status_code == 429 and refused["Retry-After"]
    assert refused["Content-Type"] == "application/json"
    assert "throttled" in refused.json()["detail"]


# --- Logs: an unknown Host is one warning; readers' tokens never reach a log line --------


def test_an_unknown_host_is_logged_once_as_a_warning_without_traceback(client, caplog):
    assert client.get("/", HTTP_HOST="evil.example.net").status_code == 400
    (record,) = [r for r in caplog.records if r.name.startswith(("django.security", "django.req"))]
    assert record.levelname == "WARNING" and record.exc_info is None
    assert "evil.example.net" in record.getMessage()


def test_bad_request_warnings_do_not_show_the_token_of_the_link(client, reader_links):
    import io
    import logging

    from digest.logs import ScrubTokens

    (console,) = [h for h in logging.getLogger().handlers if any(
        isinstance(f, ScrubTokens) for f in h.filters)]  # fmt: skip
    written = io.StringIO()
    previous = console.setStream(written)
    try:
        _, links = reader_links
        tampered = links[1].replace("/preferences/", "/preferences/x") + "?token=secret"
        assert client.get(tampered).status_code == 400
        assert client.get("/feeds/me/feedsecret.rss").status_code == 404
    finally:
        console.setStream(previous)
    log = written.getvalue()
    assert "Bad Request: /preferences/[token]/" in log
    token = links[1].split("/")[2]
    assert token not in log and "secret" not in log


# --- Tokens with our signature over the wrong shape -------------------------------------


@pytest.mark.parametrize("payload", [[1], "1", {"id": 1}, True, None, 1.5, [1, 2, 3], ["a", 1]])
@pytest.mark.parametrize(
    ("salt", "page"),
    [
        ("preferences", "/preferences/{}/"),
        ("unsubscribe", "/unsubscribe/{}/"),
        ("confirm", "/subscribe/confirm/{}/"),
        ("feedback", "/feedback/{}/2512.13689/more/"),
    ],
)
def test_a_genuine_signature_over_the_wrong_payload_is_a_bad_link(client, salt, page, payload):
    from django.core import signing

    token = signing.dumps(payload, salt=f"digest.subscriptions.{salt}")
    for answer in (client.get(page.format(token)), client.post(page.format(token))):
        assert answer.status_code == 400
        assert "damaged or incomplete" in answer.content.decode()
