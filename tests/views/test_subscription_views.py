"""The subscription pages through Django's test client; emails go to a real SMTP server."""

import re
from datetime import date

import pytest
from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from digest.models import Delivery, PaperFeedback, Subscriber
from digest.services import delivery, subscriptions

pytestmark = pytest.mark.django_db
Status = Subscriber.Status
FORM = {
    "email": "ada@example.org",
    "interests": "video generation\ndiffusion models",
    "categories": ["cs.CV", "cs.LG"],
    "delivery_hour": "7",
    "timezone": "Europe/Berlin",
    "digest_size": "5",
}


@pytest.fixture(autouse=True)
def mail(redis_cache, eager_tasks, smtp_server, settings):
    settings.SITE_URL = "http://testserver"
    return smtp_server


@pytest.fixture
def submit(client, django_capture_on_commit_callbacks):
    """POST the signup form; the emails queued after commit are sent before it returns."""

    def post(data=FORM, *, by=client, **extra):
        with django_capture_on_commit_callbacks(execute=True):
            return by.post("/subscribe", data, **extra)

    return post


def _link(message, path: str) -> str:
    (link,) = re.findall(
        rf"http://testserver(/{path}/\S+/)", message.get_body(("plain",)).get_content()
    )
    return link


def _reader(status: str = Status.ACTIVE, **fields) -> Subscriber:
    return Subscriber.objects.create(
        email="ada@example.org", status=status, interests="agents", **fields
    )


# --- Signup ------------------------------------------------------------------------------


def test_the_form_asks_for_everything_with_sensible_defaults(client):
    html = client.get("/subscribe").content.decode()
    for name in ("email", "interests", "categories", "delivery_hour", "timezone", "digest_size"):
        assert f'name="{name}"' in html
    assert '<option value="8" selected>08:00</option>' in html
    assert 'value="10"' in html  # papers per digest
    # UTC until timezone.js swaps in the zone the browser reports.
    assert re.search(r'<select name="timezone"[^>]*data-browser-default', html)
    assert '<option value="UTC" selected>UTC</option>' in html
    assert "digest/timezone.js" in html


def test_signup_records_a_pending_reader_and_mails_a_confirmation_link(submit, mail):
    response = submit()
    assert response.status_code == 302 and response["Location"] == "/subscribe/check-your-inbox"
    reader = Subscriber.objects.get()
    assert (reader.status, reader.categories, reader.timezone) == (
        Status.PENDING,
        ["cs.CV", "cs.LG"],
        "Europe/Berlin",
    )
    (message,) = mail.to("ada@example.org")
    assert message["Subject"] == "Confirm your daily paper digest"
    assert _link(message, "subscribe/confirm").startswith("/subscribe/confirm/")


def test_csrf_is_enforced(submit):
    strict = Client(enforce_csrf_checks=True)
    assert submit(by=strict).status_code == 403
    assert not Subscriber.objects.exists()
    strict.get("/subscribe")
    token = strict.cookies["csrftoken"].value
    assert submit({**FORM, "csrfmiddlewaretoken": token}, by=strict).status_code == 302
    assert Subscriber.objects.count() == 1


def test_every_address_gets_the_same_answer(submit, mail, settings):
    """New, pending, confirmed and unsubscribed: nothing in the response tells them apart."""
    settings.SUBSCRIBE_EMAIL_EVERY_SECONDS = 0  # each case may mail the address again
    answers = []
    for status in (None, Status.PENDING, Status.ACTIVE, Status.UNSUBSCRIBED):
        Subscriber.objects.all().delete()
        if status:
            _reader(status)
        response = submit({**FORM, "email": "Ada@Example.org"})
        page = Client().get(response["Location"])
        answers.append((response.status_code, response["Location"], page.content))
    assert len(set(answers)) == 1
    # Behind the identical answers, each address got the email that fits it.
    subjects = [m["Subject"] for m in mail.messages]
    assert subjects == [
        "Confirm your daily paper digest",
        "Confirm your daily paper digest",
        "You are already subscribed to the daily paper digest",
        "Confirm your daily paper digest",
    ]


def test_bad_input_gets_clear_errors_and_records_nothing(submit, mail):
    cases = {
        "email": ({"email": "not-an-address"}, "Enter a valid email address."),
        "__all__": ({"interests": "", "categories": []}, "Tell us at least one topic"),
        "timezone": ({"timezone": "Mars/Base"}, "Select a valid choice."),
        "digest_size": ({"digest_size": "0"}, "greater than or equal to 1"),
        "delivery_hour": ({"delivery_hour": "24"}, "Select a valid choice."),
        "categories": ({"categories": ["cs.XX"]}, "Select a valid choice."),
    }
    for field, (change, message) in cases.items():
        response = submit({**FORM, **change})
        assert response.status_code == 200, field
        assert message in response.content.decode(), field
        assert list(response.context["form"].errors) == [field]
    assert not Subscriber.objects.exists() and not mail.messages


@pytest.mark.parametrize("zone", ["Factory", "localtime", "localhost", "posixrules", "Mars/Base"])
def test_only_real_iana_time_zones_are_offered_and_taken(client, submit, zone):
    # Files of the host's zoneinfo folder that are no place on Earth.
    assert f'value="{zone}"' not in client.get("/subscribe").content.decode()
    response = submit({**FORM, "timezone": zone})
    assert response.status_code == 200 and list(response.context["form"].errors) == ["timezone"]
    assert not Subscriber.objects.exists()


def test_signups_are_rate_limited_per_client(submit, settings, mail):
    settings.SUBSCRIBE_RATE_LIMIT = 2
    for i in range(2):
        assert submit({**FORM, "email": f"r{i}@example.org"}).status_code == 302
    limited = submit({**FORM, "email": "third@example.org"})
    assert limited.status_code == 429
    assert "Too many attempts" in limited.content.decode()
    assert not Subscriber.objects.filter(email="third@example.org").exists()
    # Another client is not held back.
    other = submit({**FORM, "email": "other@example.org"}, REMOTE_ADDR="198.51.100.7")
    assert other.status_code == 302


def test_behind_a_proxy_the_configured_header_names_the_client(submit, settings):
    settings.SUBSCRIBE_RATE_LIMIT, settings.TRUSTED_PROXY_COUNT = 1, 1
    settings.CLIENT_IP_HEADER = "HTTP_X_REAL_IP"
    assert submit(HTTP_X_REAL_IP="203.0.113.1").status_code == 302
    assert submit(HTTP_X_REAL_IP="203.0.113.2").status_code == 302
    assert submit(HTTP_X_REAL_IP="203.0.113.1").status_code == 429


# --- Confirmation ------------------------------------------------------------------------


def test_opening_the_link_shows_a_button_and_only_the_button_confirms(submit, client, mail):
    submit()
    link = _link(mail.messages[0], "subscribe/confirm")
    page = client.get(link)
    assert page.status_code == 200 and "Confirm my subscription" in page.content.decode()
    assert Subscriber.objects.get().status == Status.PENDING  # mail scanners open links
    confirmed = client.post(link)
    assert confirmed.status_code == 200 and "You are subscribed" in confirmed.content.decode()
    assert Subscriber.objects.get().status == Status.ACTIVE
    assert client.post(link).status_code == 200  # twice is harmless


def test_an_expired_link_offers_a_new_one(
    submit, client, mail, settings, django_capture_on_commit_callbacks
):
    settings.SUBSCRIBE_EMAIL_EVERY_SECONDS = 0  # so that the renewal is mailed at once
    submit()
    link = _link(mail.messages[0], "subscribe/confirm")
    settings.CONFIRM_LINK_MAX_AGE_HOURS = -1
    page = client.get(link)
    assert page.status_code == 410
    assert "This confirmation link has expired." in page.content.decode()
    renew = re.search(r'action="(/subscribe/renew/[^"]+)"', page.content.decode())[1]
    assert client.post(link).status_code == 410
    assert Subscriber.objects.get().status == Status.PENDING

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(renew)["Location"] == "/subscribe/check-your-inbox"
    assert len(mail.messages) == 2
    settings.CONFIRM_LINK_MAX_AGE_HOURS = 72
    client.post(_link(mail.messages[1], "subscribe/confirm"))
    assert Subscriber.objects.get().status == Status.ACTIVE


def test_a_tampered_link_changes_nothing(submit, client, mail):
    submit()
    link = _link(mail.messages[0], "subscribe/confirm")
    tampered = link[:-3] + ("A" if link[-3] != "A" else "B") + "/"
    for response in (client.get(tampered), client.post(tampered)):
        assert response.status_code == 400
        assert "This link does not work" in response.content.decode()
    assert Subscriber.objects.get().status == Status.PENDING


# --- Preferences -------------------------------------------------------------------------


def _preferences(reader) -> str:
    return f"/preferences/{subscriptions.preferences_token(subscriber=reader)}/"


def test_preferences_page_shows_and_saves_the_readers_choices(client):
    reader = _reader(delivery_hour=6, timezone="Asia/Tokyo", interest_model="m")
    url = _preferences(reader)
    html = client.get(url).content.decode()
    assert "ada@example.org" in html and '<option value="Asia/Tokyo" selected>' in html
    saved = client.post(url, {**FORM, "action": "save", "interests": "robotics"}, follow=True)
    assert "Saved." in saved.content.decode()
    reader.refresh_from_db()
    assert (reader.interests, reader.delivery_hour, reader.digest_size) == ("robotics", 7, 5)
    assert reader.interest_model == ""


def test_follow_ups_are_on_by_default_and_each_can_be_turned_off(client):
    reader = _reader()
    url = _preferences(reader)
    html = client.get(url).content.decode()
    assert re.search(r'name="follow_code_out"[^>]* checked', html)
    assert re.search(r'name="follow_taking_off"[^>]* checked', html)
    # A browser sends a checked box and leaves an unchecked one out.
    client.post(url, {**FORM, "action": "save", "follow_taking_off": "on"})
    reader.refresh_from_db()
    assert (reader.follow_code_out, reader.follow_taking_off) == (False, True)
    html = client.get(url).content.decode()
    assert not re.search(r'name="follow_code_out"[^>]* checked', html)


def test_preferences_errors_are_shown_and_nothing_is_saved(client):
    reader = _reader()
    response = client.post(_preferences(reader), {**FORM, "digest_size": "99"})
    assert response.status_code == 200
    assert "less than or equal to 30" in response.content.decode()
    assert Subscriber.objects.get().digest_size == 10


def test_pause_and_resume_from_the_preferences_page(client):
    reader = _reader()
    url = _preferences(reader)
    assert "Paused" in client.post(url, {"action": "pause"}, follow=True).content.decode()
    assert Subscriber.objects.get().status == Status.PAUSED
    assert "Resume my digest" in client.get(url).content.decode()
    client.post(url, {"action": "resume"})
    assert Subscriber.objects.get().status == Status.ACTIVE


def test_preferences_page_gives_the_personal_feed_and_a_new_address_revokes_the_old(client):
    url = _preferences(_reader())
    # Opening the link (a mail scanner does) makes no token; the reader's button does.
    for _ in range(2):
        assert "/feeds/me/" not in client.get(url).content.decode()
    assert Subscriber.objects.get().feed_token is None
    page = client.post(url, {"action": "new-feed-token"}, follow=True).content.decode()
    (old,) = set(re.findall(r'href="(/feeds/me/[^"]+\.rss)"', page))
    assert client.get(old).status_code == 200
    page = client.post(url, {"action": "new-feed-token"}, follow=True).content.decode()
    assert "old one no longer works" in page
    (new,) = set(re.findall(r'href="(/feeds/me/[^"]+\.rss)"', page))
    assert new != old
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200


def test_an_unsubscribed_reader_has_no_personal_feed(client):
    html = client.get(_preferences(_reader(Status.UNSUBSCRIBED))).content.decode()
    assert "/feeds/me/" not in html


def test_preferences_of_an_unsubscribed_reader_change_nothing(client):
    reader = _reader(Status.UNSUBSCRIBED)
    url = _preferences(reader)
    assert "Subscribe again" in client.get(url).content.decode()
    client.post(url, {"action": "resume"})
    client.post(url, {**FORM, "interests": "robotics"})
    reader.refresh_from_db()
    assert (reader.status, reader.interests) == (Status.UNSUBSCRIBED, "agents")


def test_a_tampered_preferences_link_is_refused(client):
    reader = _reader()
    url = _preferences(reader)
    assert client.get(url.replace(":", "x", 1)).status_code == 400
    assert client.post(url[:-5] + "/", {"action": "pause"}).status_code == 400
    assert Subscriber.objects.get().status == Status.ACTIVE


def test_signing_out_all_links_revokes_them_but_one_click_unsubscribe_still_works(client):
    reader = _reader()
    preferences, unsubscribe = _preferences(reader), _unsubscribe(reader)
    made = client.post(preferences, {"action": "new-feed-token"}, follow=True)
    (feed,) = set(re.findall(r'href="(/feeds/me/[^"]+\.rss)"', made.content.decode()))
    page = client.post(preferences, {"action": "sign-out-links"}).content.decode()
    assert "signed out" in page and "ada@example.org" not in page

    refused = client.get(preferences)
    assert refused.status_code == 400 and "signed out" in refused.content.decode()
    assert client.get(feed).status_code == 404
    # Weeks later, from an old email: the address is not shown, unsubscribing still works.
    asked = client.get(unsubscribe)
    assert asked.status_code == 200 and "ada@example.org" not in asked.content.decode()
    mailbox_provider = Client(enforce_csrf_checks=True)
    done = mailbox_provider.post(
        unsubscribe, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert done.status_code == 200 and "ada@example.org" not in done.content.decode()
    assert Subscriber.objects.get().status == Status.UNSUBSCRIBED
    # Links made since (the next digest's) work.
    assert client.get(_preferences(Subscriber.objects.get())).status_code == 200


def test_links_mailed_before_link_generations_keep_working(client):
    reader = _reader()
    # What emails sent before this release carry: the subscriber id alone.
    token = signing.dumps(reader.pk, salt=subscriptions.PREFERENCES_SALT)
    assert client.get(f"/preferences/{token}/").status_code == 200


# --- One-click unsubscribe (RFC 8058) ----------------------------------------------------


def _unsubscribe(reader) -> str:
    return f"/unsubscribe/{subscriptions.unsubscribe_token(subscriber=reader)}/"


def test_one_click_post_unsubscribes_at_once_without_cookies_or_csrf():
    reader = _reader()
    mailbox_provider = Client(enforce_csrf_checks=True)
    response = mailbox_provider.post(
        _unsubscribe(reader),
        "List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert "You are unsubscribed" in response.content.decode()
    assert not mailbox_provider.cookies
    reader.refresh_from_db()
    assert reader.status == Status.UNSUBSCRIBED and reader.unsubscribed_at is not None


def test_get_only_asks_for_confirmation(client):
    reader = _reader()
    page = client.get(_unsubscribe(reader)).content.decode()
    assert "Unsubscribe from the daily digest?" in page
    assert 'name="List-Unsubscribe" value="One-Click"' in page
    assert Subscriber.objects.get().status == Status.ACTIVE


def test_a_tampered_or_incomplete_unsubscribe_changes_nothing(client):
    reader = _reader()
    url = _unsubscribe(reader)
    body = {"List-Unsubscribe": "One-Click"}
    assert client.post(url[:-4] + "zz/", body).status_code == 400
    other_purpose = _preferences(reader).replace("/preferences/", "/unsubscribe/")
    assert client.post(other_purpose, body).status_code == 400
    assert client.post(url, {}).status_code == 400
    assert Subscriber.objects.get().status == Status.ACTIVE


# --- Feedback and the archive ------------------------------------------------------------


@pytest.fixture
def sent_digest(corpus, mail):
    reader = _reader()
    ids = delivery.plan(day=date(2026, 6, 12), subscriber_ids=[reader.pk])
    delivery.send_chunk(delivery_ids=ids)
    return reader, mail.to(reader.email)[0], Delivery.objects.get(pk=ids[0])


def test_more_like_this_asks_then_records(client, sent_digest):
    reader, message, _ = sent_digest
    text = message.get_body(("plain",)).get_content()
    more = re.search(r"More like this: http://testserver(\S+)", text)[1]
    page = client.get(more)
    assert page.status_code == 200 and "More papers like this one?" in page.content.decode()
    assert not PaperFeedback.objects.exists()
    saved = client.post(more)
    assert "Noted" in saved.content.decode()
    feedback = PaperFeedback.objects.get()
    assert (feedback.subscriber, feedback.kind) == (reader, PaperFeedback.Kind.LIKE)
    assert client.post(more.replace("/more/", "/less/")).status_code == 200
    assert PaperFeedback.objects.get().kind == PaperFeedback.Kind.DISLIKE
    assert client.post(more.replace("/more/", "/plenty/")).status_code == 400


def test_the_archive_page_shows_the_digest_and_nothing_personal(client, sent_digest):
    reader, message, sent = sent_digest
    html = message.get_body(("html",)).get_content().replace("&amp;", "&")
    archive = re.search(r'href="http://testserver(/digests/[^"]+)"', html)[1]
    page = client.get(archive)
    content = page.content.decode()
    assert page.status_code == 200 and "Digest of Friday, 12 June 2026" in content
    titles = re.findall(r'<h2 class="card-title"><a href="/papers/([^/]+)/"', content)
    assert titles == list(sent.items.order_by("position").values_list("paper_id", flat=True))
    assert reader.email not in content
    for purpose in ("feedback", "preferences", "unsubscribe"):
        assert f"/{purpose}/" not in content
    assert client.get("/digests/2025-06-11/").status_code == 404
    assert client.get("/digests/yesterday/").status_code == 404


@pytest.mark.usefixtures("sent_digest")
def test_the_archive_without_papers_is_the_days_public_digest_not_what_readers_got(
    client, settings
):
    content = client.get("/digests/2026-06-12/").content.decode()
    shown = re.findall(r'<h2 class="card-title"><a href="/papers/([^/]+)/"', content)
    trending = client.get("/api/digests/2026-06-12/").json()["papers"]
    assert shown == [paper["arxiv_id"] for paper in trending]
    assert len(shown) == settings.API_DIGEST_SIZE


# --- Interests beyond topics: authors, papers, the trending dial ----------------------------


def test_signup_takes_authors_known_papers_and_the_trending_options(submit, corpus, arxiv_upstream):
    # 2512.13690 is stored; 2512.13410 (the second recorded arXiv page) is fetched by id.
    bibtex = b"@misc{known, title={DiffusionBrowser}, eprint={2512.13690}, archivePrefix={arXiv}}"
    upload = SimpleUploadedFile("library.bib", bibtex, content_type="application/x-bibtex")
    form = {
        **FORM,
        "followed_authors": "Susung Hong\n  Yann LeCun ",
        "categories_only": "on",
        "papers": "see https://arxiv.org/abs/2512.13410v1",
        "bibtex": upload,
        "trending_count": "0",
        "trending_dial": "30",
        "send_when_empty": "on",
    }
    assert submit(form).status_code == 302
    reader = Subscriber.objects.get()
    assert reader.followed_authors == ["Susung Hong", "Yann LeCun"]
    assert (reader.categories_only, reader.trending_count, reader.send_when_empty) == (
        True,
        0,
        True,
    )
    assert reader.trending_weight == pytest.approx(0.3)
    liked = PaperFeedback.objects.filter(subscriber=reader, kind=PaperFeedback.Kind.LIKE)
    assert set(liked.values_list("paper_id", flat=True)) == {"2512.13690", "2512.13410"}


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("papers", "my favourite paper", "No arXiv id found"),
        ("bibtex", b"@book{knuth, title={TAOCP}}", "None of the file"),
        ("bibtex", b"\xff\xfe\x00", "not UTF-8"),
        ("trending_count", "11", "less than or equal to 10"),
        ("trending_dial", "140", "less than or equal to 100"),
        ("followed_authors", "x" * 201, "longer than 200 characters"),
    ],
)
def test_bad_papers_authors_or_options_get_clear_errors_and_record_nothing(
    submit, field, value, error
):
    if isinstance(value, bytes):
        value = SimpleUploadedFile("refs.bib", value)
    response = submit({**FORM, field: value})
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Subscriber.objects.exists() and not PaperFeedback.objects.exists()


def test_authors_or_papers_alone_are_interests_enough(submit, corpus):
    data = {key: value for key, value in FORM.items() if key not in ("interests", "categories")}
    assert submit({**data, "followed_authors": "Susung Hong"}).status_code == 302
    assert Subscriber.objects.get().interests == ""


def test_preferences_show_liked_papers_and_save_the_new_options(client, corpus):
    reader = _reader(followed_authors=["Susung Hong"], trending_count=5)
    PaperFeedback.objects.create(subscriber=reader, paper_id="2512.13690", kind="like")
    url = _preferences(reader)
    html = client.get(url).content.decode()
    assert "Papers you liked" in html and "DiffusionBrowser" in html
    assert "Susung Hong</textarea>" in html
    assert re.search(r'name="trending_count"[^>]*value="5"', html)
    assert 'type="range"' in html and "Only my interests" in html
    # A reader who liked papers may clear every topic and category.
    blank = {**FORM, "interests": "", "categories": [], "action": "save", "trending_count": "2"}
    saved = client.post(url, blank, follow=True)
    assert "Saved." in saved.content.decode()
    reader.refresh_from_db()
    assert (reader.interests, reader.trending_count, reader.followed_authors) == ("", 2, [])
