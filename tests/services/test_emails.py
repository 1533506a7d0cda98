"""The digest and subscription emails as a mail client receives them from a real SMTP server."""

import re
from datetime import date
from html import escape
from urllib.parse import parse_qs, urlsplit

import pytest

from digest.models import Delivery, Paper, Subscriber
from digest.services import delivery, subscriptions
from digest.services.emails.compose import confirmation_message, digest_subject, one_line
from digest.services.papers import primary_code_link

pytestmark = pytest.mark.django_db
DAY = date(2026, 6, 12)
SITE = "https://digest.example.org"


@pytest.fixture
def site(settings):
    settings.SITE_URL = SITE
    return settings


@pytest.fixture
def reader(corpus, site):
    return Subscriber.objects.create(
        email="ada@example.org",
        status=Subscriber.Status.ACTIVE,
        interests="video generation, diffusion models",
    )


def _send(reader, smtp_server, day: date = DAY):
    """Plan and send `reader`'s digest; returns the received message and the delivery."""
    ids = delivery.plan(day=day, subscriber_ids=[reader.pk])
    assert delivery.send_chunk(delivery_ids=ids).sent == 1
    (message,) = smtp_server.to(reader.email)
    return message, Delivery.objects.get(pk=ids[0])


def _links(html: str) -> list[str]:
    return [link.replace("&amp;", "&") for link in re.findall(r'href="([^"]+)"', html)]


def test_the_digest_shows_each_paper_with_its_links(reader, smtp_server):
    message, sent = _send(reader, smtp_server)
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    items = list(sent.items.select_related("paper"))
    for_you = [item for item in items if item.section == "for_you"]
    assert 0 < len(for_you) <= reader.digest_size
    assert len(items) - len(for_you) == reader.trending_count == 3
    assert html.index(">For you<") < html.index(">Trending today<")
    assert text.index("FOR YOU") < text.index("TRENDING TODAY")
    links = _links(html)
    for item in items:
        paper = item.paper
        for part in (html, text):
            assert f"{SITE}/papers/{paper.pk}/" in part
            assert paper.abs_url in part and paper.pdf_url in part
        assert one_line(paper.title) in text
        assert one_line(item.why) in text and escape(item.why) in html
        code = primary_code_link(paper)
        if code:
            assert code.url in links and code.url in text
            if code.stars is not None:
                assert f"★ {code.stars}" in html
    no_code = sum(primary_code_link(item.paper) is None for item in items)
    assert html.count("No code released") == text.count("No code released") == no_code
    assert html.count(">More like this<") == html.count(">Less like this<") == len(items)
    assert "<img" not in html
    # Mail clients drop <style>: the rules are written into the elements themselves.
    assert re.search(r'<p class="why" style="[^"]*color', html)
    assert re.search(r'<h2 class="title" style="[^"]*font-size', html)


def test_the_subject_names_the_date_and_the_top_paper(reader, smtp_server):
    message, sent = _send(reader, smtp_server)
    top = sent.items.order_by("position").first().paper
    subject = message["Subject"]
    assert subject.startswith("12 Jun 2026: ")
    assert subject.endswith(f" and {sent.items.count() - 1} more")
    assert one_line(top.title)[:40] in subject
    assert sent.subject == subject


def test_list_headers_and_a_unique_message_id(reader, smtp_server, settings):
    settings.MAIL_UNSUBSCRIBE_MAILTO = "unsubscribe@digest.example.org"
    settings.MAIL_WEBHOOKS = True  # the inbound webhook reads that mail
    message, sent = _send(reader, smtp_server)
    one_click, mailto = re.findall(r"<([^>]+)>", message["List-Unsubscribe"])
    assert one_click.startswith(f"{SITE}/unsubscribe/")
    token = one_click.rstrip("/").rsplit("/", 1)[1]
    assert subscriptions.subscriber_for(token=token, purpose="unsubscribe") == reader
    # The reader's own address: mail to it unsubscribes them, whatever its From says.
    address = subscriptions.unsubscribe_mailto(subscriber=reader)
    assert mailto == f"mailto:{address}?subject=unsubscribe"
    assert mailto.startswith(f"mailto:unsubscribe+{reader.pk}-")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Daily paper digest <digest.digest.example.org>"
    assert message["Message-ID"] == sent.message_id
    assert re.fullmatch(r"<[^<>@\s]+@digest\.example\.org>", sent.message_id)
    # The visible unsubscribe link of the body is the same one-click address.
    assert one_click in _links(message.get_body(("html",)).get_content())
    assert f"Unsubscribe: {one_click}" in message.get_body(("plain",)).get_content()


def test_message_ids_differ_between_digests(corpus, smtp_server, site):
    readers = [
        Subscriber.objects.create(email=f"r{i}@example.org", status="active", interests="agents")
        for i in range(3)
    ]
    ids = delivery.plan(day=DAY, subscriber_ids=[r.pk for r in readers])
    delivery.send_chunk(delivery_ids=ids)
    message_ids = {m["Message-ID"] for m in smtp_server.messages}
    assert len(message_ids) == 3


def test_feedback_and_preference_links_are_signed_for_this_reader(reader, smtp_server):
    message, sent = _send(reader, smtp_server)
    html = message.get_body(("html",)).get_content()
    feedback = [link for link in _links(html) if "/feedback/" in link]
    assert len(feedback) == 2 * sent.items.count()
    sent_papers = set(sent.items.values_list("paper_id", flat=True))
    for link in feedback:
        token, paper_id, answer = urlsplit(link).path.strip("/").split("/")[1:]
        who, paper, kind = subscriptions.feedback_for(token=token, paper_id=paper_id, answer=answer)
        assert who == reader and paper.pk in sent_papers
        assert kind == {"more": "like", "less": "dislike"}[answer]
    (preferences,) = [link for link in _links(html) if "/preferences/" in link]
    token = urlsplit(preferences).path.strip("/").split("/")[1]
    assert subscriptions.subscriber_for(token=token, purpose="preferences") == reader


def test_the_view_in_browser_link_carries_nothing_personal(reader, smtp_server):
    message, sent = _send(reader, smtp_server)
    (archive,) = [
        link for link in _links(message.get_body(("html",)).get_content()) if "/digests/" in link
    ]
    parts = urlsplit(archive)
    assert parts.path == "/digests/2026-06-12/"
    assert parse_qs(parts.query) == {
        "papers": [",".join(sent.items.order_by("position").values_list("paper_id", flat=True))]
    }


def test_nothing_from_upstream_can_inject_a_header_or_markup(reader, smtp_server):
    ids = delivery.plan(day=DAY, subscriber_ids=[reader.pk])
    top = Delivery.objects.get(pk=ids[0]).items.order_by("position").first().paper
    hostile = (
        top.title + "\r\nBcc: victim@example.net\r\n\r\n<script>alert(1)</script>"
        "\u2028X-Injected: 1\x85\x1b <b>bold</b>"
    )
    Paper.objects.filter(pk=top.pk).update(title=hostile, authors=["<img src=x onerror=1>"])
    assert delivery.send_chunk(delivery_ids=ids).sent == 1
    (message,) = smtp_server.messages
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert "Bcc: victim@example.net" in message["Subject"]  # shown as text, harmlessly
    html = message.get_body(("html",)).get_content()
    assert "<script>" not in html and "<b>bold</b>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    text = message.get_body(("plain",)).get_content()
    assert "\nBcc:" not in text and "\nX-Injected" not in text


def test_a_long_or_broken_title_becomes_one_bounded_subject_line():
    title = "A " * 200 + "\u2029end"
    subject = digest_subject(day=DAY, titles=[title, "second"])
    assert len(subject) <= 150 and subject.endswith("… and 1 more")
    assert one_line("a\r\nb\tc\u2028d\x85e\x00f\x1bg") == "a b c d e f g"


def test_the_confirmation_email_holds_a_working_link(site, smtp_server):
    subscriber = Subscriber.objects.create(email="new@example.org", interests="agents")
    confirmation_message(subscriber=subscriber).send()
    (message,) = smtp_server.messages
    text = message.get_body(("plain",)).get_content()
    (link,) = re.findall(rf"{SITE}/subscribe/confirm/(\S+)/", text)
    assert link in message.get_body(("html",)).get_content()
    assert message["List-Unsubscribe"] is None  # a transactional email, not the list
    assert subscriptions.confirm(token=link).status == Subscriber.Status.ACTIVE


def test_latex_in_titles_and_summaries_reads_as_text(corpus, site, smtp_server):
    # 2512.13492's title ends "Over 10$\\times$" and its abstract starts "Native 4K
    # (2160$\\times$3840) video generation ...": the summary is that first sentence.
    reader = Subscriber.objects.create(
        email="k4@example.org", status="active", interests="native 4K video generation"
    )
    message, _ = _send(reader, smtp_server, day=date(2025, 12, 15))
    times = "\N{MULTIPLICATION SIGN}"
    title = f"Transform Trained Transformer: Accelerating Naive 4K Video Generation Over 10{times}"
    summary = f"Native 4K (2160{times}3840) video generation remains a critical challenge"
    for part in (message.get_body(("plain",)), message.get_body(("html",))):
        content = part.get_content()
        assert title in content and summary in content
        assert "\\times" not in content


def test_hugging_face_papers_carry_their_ai_summary(reader, smtp_server):
    message, sent = _send(reader, smtp_server)
    text = message.get_body(("plain",)).get_content()
    papers = [item.paper for item in sent.items.select_related("paper")]
    summarised = [paper for paper in papers if paper.ai_summary]
    assert summarised
    assert all(one_line(paper.ai_summary) in text for paper in summarised)
