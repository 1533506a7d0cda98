"""Build the messages we send: the daily digest and the subscription emails.

Everything from upstream (titles, authors, abstracts) reaches HTML through the template
engine's escaping and reaches a header only through `one_line`, so no paper can inject markup
or a header. Mail clients drop <style>, so css-inline writes the stylesheet into the style
attributes of each HTML template once per process (not into each of ten thousand messages);
there are no images, so a client that blocks them shows the whole digest.
"""

import re
from dataclasses import dataclass
from datetime import date
from email.utils import make_msgid
from functools import cache
from urllib.parse import urlencode, urlsplit

import css_inline
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import Context, Template, engines
from django.template.loader import render_to_string
from django.urls import reverse

from digest.models import Delivery, DeliveryItem, Paper, Subscriber
from digest.services.papers import primary_code_link, summary_source
from digest.services.subscriptions import (
    address_token,
    confirm_token,
    feedback_token,
    preferences_token,
    unsubscribe_mailto,
    unsubscribe_token,
)
from digest.text import unicode_text

STYLESHEET = "emails/email.css"
SUBJECT_LIMIT = 150
PLACEHOLDER = "PLACEHOLDER"
# C0 and C1 control characters; str.split() below takes care of every line break and space.
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def one_line(text: str, *, limit: int | None = None) -> str:
    """Text fit for a header or a plain-text line: every line break (str.split knows \\r, \\n,
    \\x85, \\u2028, \\u2029...), tab and control character becomes a single space."""
    flat = " ".join(CONTROL.sub(" ", text).split())
    if limit is not None and len(flat) > limit:
        return flat[: limit - 1].rstrip() + "…"
    return flat


def absolute(path: str) -> str:
    return settings.SITE_URL + path


def site_host() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


def list_id() -> str:
    return f"Daily paper digest <{settings.MAIL_LIST_ID or 'digest.' + site_host()}>"


@cache
def _html_template(name: str) -> Template:
    """An HTML email template with the stylesheet inlined into its source by css-inline. The
    template tags pass through untouched; media queries stay in a <style> for the clients
    that honour them. Cached per process, like Django's own template loader."""
    engine = engines["django"].engine
    source = engine.get_template(name).source
    css = engine.get_template(STYLESHEET).source
    if source.lstrip().lower().startswith("<!doctype"):
        inliner = css_inline.CSSInliner(
            extra_css=css, keep_at_rules=True, load_remote_stylesheets=False
        )
        return engine.from_string(inliner.inline(source))
    return engine.from_string(css_inline.inline_fragment(source, css))


def render_html(name: str, context: dict) -> str:
    return _html_template(name).render(Context(context))


def _render(template: str, context: dict) -> tuple[str, str]:
    """The plain-text and the HTML rendering of one email template pair."""
    text = render_to_string(f"emails/{template}.txt", context)
    return text, render_html(f"emails/{template}.html", context)


def _message(
    *, subject: str, to: str, template: str, context: dict, headers: dict[str, str]
) -> EmailMultiAlternatives:
    text, html = _render(template, {**context, "subject": subject})
    headers = {"Message-ID": make_msgid(domain=site_host()), **headers}
    message = EmailMultiAlternatives(
        subject=one_line(subject, limit=SUBJECT_LIMIT), body=text, to=[to], headers=headers
    )
    message.attach_alternative(html, "text/html")
    return message


# --- Subscription emails -----------------------------------------------------------------


def _confirm_link_message(
    *, subject: str, to: str, template: str, route: str, token: str
) -> EmailMultiAlternatives:
    """A message whose one link confirms something; the link works for
    CONFIRM_LINK_MAX_AGE_HOURS."""
    context = {
        "confirm_url": absolute(reverse(route, args=[token])),
        "hours": settings.CONFIRM_LINK_MAX_AGE_HOURS,
        "site": settings.SITE_URL,
    }
    return _message(subject=subject, to=to, template=template, context=context, headers={})


def confirmation_message(*, subscriber: Subscriber) -> EmailMultiAlternatives:
    return _confirm_link_message(
        subject="Confirm your daily paper digest",
        to=subscriber.email,
        template="confirm",
        route="subscription-confirm",
        token=confirm_token(subscriber_id=subscriber.pk),
    )


def already_subscribed_message(*, subscriber: Subscriber) -> EmailMultiAlternatives:
    context = {
        "preferences_url": preferences_url(subscriber=subscriber),
        "paused": subscriber.status == Subscriber.Status.PAUSED,
        "site": settings.SITE_URL,
    }
    return _message(
        subject="You are already subscribed to the daily paper digest",
        to=subscriber.email,
        template="already_subscribed",
        context=context,
        headers={},
    )


def address_change_message(*, subscriber: Subscriber) -> EmailMultiAlternatives:
    """To the new address a reader asked for: nothing changes until it is confirmed there."""
    return _confirm_link_message(
        subject="Confirm the new address of your paper digest",
        to=subscriber.pending_email,
        template="confirm_address",
        route="subscription-address",
        token=address_token(subscriber=subscriber),
    )


# --- The digest --------------------------------------------------------------------------


@cache
def _route(name: str, arity: int = 1) -> str:
    """A route's path as a format string: a digest holds some thirty links, and reverse() is
    the slow part of building one."""
    return reverse(name, args=[PLACEHOLDER] * arity).replace(PLACEHOLDER, "{}")


def paper_url(paper_id: str) -> str:
    return absolute(_route("paper-detail").format(paper_id))


def unsubscribe_url(*, subscriber: Subscriber) -> str:
    token = unsubscribe_token(subscriber=subscriber)
    return absolute(_route("unsubscribe").format(token))


def preferences_url(*, subscriber: Subscriber) -> str:
    token = preferences_token(subscriber=subscriber)
    return absolute(_route("subscription-preferences").format(token))


def archive_url(*, day: date, paper_ids: list[str]) -> str:
    """The public "view in browser" page: the day and the papers, nothing about the reader."""
    path = reverse("digest-archive", args=[day.isoformat()])
    return absolute(path) + "?" + urlencode({"papers": ",".join(paper_ids)})


def list_headers(*, unsubscribe: str, mailto: str) -> dict[str, str]:
    """RFC 2369 / RFC 8058: mailbox providers show their own one-click unsubscribe button.
    `mailto`: the reader's unsubscribe address, "" for none."""
    targets = [f"<{unsubscribe}>"]
    if mailto:
        targets.append(f"<mailto:{mailto}?subject=unsubscribe>")
    return {
        "List-Unsubscribe": ", ".join(targets),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "List-Id": list_id(),
    }


def digest_subject(*, day: date, titles: list[str]) -> str:
    more = f" and {len(titles) - 1} more" if len(titles) > 1 else ""
    head = f"{day.day} {day:%b %Y}: "
    return head + one_line(titles[0], limit=SUBJECT_LIMIT - len(head) - len(more)) + more


@dataclass(frozen=True)
class PaperPart:
    """What a digest says about a paper whoever reads it: rendered once per chunk."""

    title: str
    html: str
    text: str


def summary_line(paper: Paper) -> str:
    """One line on what the paper does (`summary_source`), its math as Unicode."""
    return one_line(unicode_text(summary_source(paper)))


def paper_part(paper: Paper) -> PaperPart:
    context = {
        "paper": paper,
        "title": one_line(unicode_text(paper.title)),
        "summary": summary_line(paper),
        "url": paper_url(paper.pk),
        "code": primary_code_link(paper),
    }
    return PaperPart(
        title=context["title"],
        html=render_html("emails/_paper.html", context),
        text=render_to_string("emails/_paper.txt", context).strip(),
    )


@dataclass(frozen=True)
class DigestEntry:
    part: PaperPart
    why: str
    more_url: str
    less_url: str
    section: str


def _entry(item: DeliveryItem, parts: dict[str, PaperPart], feedback: str) -> DigestEntry:
    if item.paper_id not in parts:
        parts[item.paper_id] = paper_part(item.paper)
    return DigestEntry(
        part=parts[item.paper_id],
        why=one_line(item.why),
        more_url=feedback.format(item.paper_id, "more"),
        less_url=feedback.format(item.paper_id, "less"),
        section=item.section,
    )


def _sections(entries: list[DigestEntry]) -> list[tuple[str, list[DigestEntry]]]:
    """(heading, entries) of the digest's sections that have papers, in order."""
    sections = [
        (str(label), [entry for entry in entries if entry.section == value])
        for value, label in DeliveryItem.Section.choices
    ]
    return [(label, chosen) for label, chosen in sections if chosen]


def digest_message(
    *, delivery: Delivery, parts: dict[str, PaperPart] | None = None
) -> EmailMultiAlternatives:
    """The digest of a planned delivery (its items, papers and code links prefetched).
    `parts` caches each paper's rendering across the digests of a chunk."""
    parts = {} if parts is None else parts
    subscriber = delivery.subscriber
    token = feedback_token(subscriber=subscriber, delivery_id=delivery.pk)
    # The paper and the answer are still placeholders: one route for the whole digest.
    feedback = absolute(_route("subscription-feedback", 3).format(token, "{}", "{}"))
    entries = [_entry(item, parts, feedback) for item in delivery.items.all()]
    unsubscribe = unsubscribe_url(subscriber=subscriber)
    paper_ids = [item.paper_id for item in delivery.items.all()]
    context = {
        "day": delivery.local_date,
        "for_you": [entry for entry in entries if entry.section == DeliveryItem.Section.FOR_YOU],
        "trending": [entry for entry in entries if entry.section == DeliveryItem.Section.TRENDING],
        "sections": _sections(entries),
        "archive_url": archive_url(day=delivery.local_date, paper_ids=paper_ids),
        "preferences_url": preferences_url(subscriber=subscriber),
        "unsubscribe_url": unsubscribe,
        "site": settings.SITE_URL,
    }
    return _message(
        subject=digest_subject(day=delivery.local_date, titles=[e.part.title for e in entries]),
        to=delivery.subscriber.email,
        template="digest",
        context=context,
        headers=list_headers(
            unsubscribe=unsubscribe, mailto=unsubscribe_mailto(subscriber=subscriber)
        ),
    )
