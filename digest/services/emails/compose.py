"""Build the messages we send: the daily digest and the subscription emails.

Everything from upstream (titles, authors, abstracts) reaches HTML through the template
engine's escaping and reaches a header only through `one_line`, so no paper can inject markup
or a header. Mail clients drop <style>, so css-inline writes the stylesheet into the style
attributes of each HTML template once per process (not into each of ten thousand messages);
there are no images, so a client that blocks them shows the whole digest.
"""

import html
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
from django.utils.safestring import mark_safe
from django.utils.translation import get_language

from digest.models import Delivery, DeliveryItem, Paper, Subscriber
from digest.services.emails.mime import OnePassEmail
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


def _email(
    *, subject: str, to: str, text: str, html: str, headers: dict[str, str], one_pass: bool = True
) -> EmailMultiAlternatives:
    """The email, flattened in one pass (mime.OnePassEmail) or by Django's MIME classes."""
    headers = {"Message-ID": make_msgid(domain=site_host()), **headers}
    kind = OnePassEmail if one_pass else EmailMultiAlternatives
    message = kind(
        subject=one_line(subject, limit=SUBJECT_LIMIT), body=text, to=[to], headers=headers
    )
    message.attach_alternative(html, "text/html")
    return message


def _message(
    *, subject: str, to: str, template: str, context: dict, headers: dict[str, str]
) -> EmailMultiAlternatives:
    context = {**context, "subject": subject}
    text = render_to_string(f"emails/{template}.txt", context)
    html = render_html(f"emails/{template}.html", context)
    return _email(subject=subject, to=to, text=text, html=html, headers=headers)


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
    path = _route("digest-archive").format(day.isoformat())
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
class PaperBlock:
    """What a digest says about a paper whoever reads it: rendered once per day and process
    (`paper_block`)."""

    title: str
    html: str
    text: str


def summary_line(paper: Paper) -> str:
    """One line on what the paper does (`summary_source`), its math as Unicode."""
    return one_line(unicode_text(summary_source(paper)))


def render_block(*, paper: Paper, day: date) -> PaperBlock:
    """A paper's block, rendered from its templates (emails/_paper.*)."""
    context = {
        "paper": paper,
        "day": day,
        "title": one_line(unicode_text(paper.title)),
        "summary": summary_line(paper),
        "url": paper_url(paper.pk),
        "code": primary_code_link(paper),
    }
    # Rendered markup, written into each digest as it is (safe once, not at every entry).
    return PaperBlock(
        title=context["title"],
        html=mark_safe(render_html("emails/_paper.html", context)),
        text=mark_safe(render_to_string("emails/_paper.txt", context).strip()),
    )


def _fingerprint(paper: Paper, day: date) -> str:
    """Everything a paper's block is rendered from: the day, the site's address, the paper's
    loaded fields and its code links. A block read from the process's cache is then exactly
    the one its paper, as loaded now, would render, even if an editor changed it since."""
    fields = [paper.__dict__.get(field.attname) for field in Paper._meta.concrete_fields]
    links = [
        {name: value for name, value in link.__dict__.items() if name != "_state"}
        for link in paper.code_links.all()
    ]
    return repr((day, settings.SITE_URL, fields, links))


_blocks: dict[str, PaperBlock] = {}
BLOCK_CACHE_SIZE = 4096  # blocks a process keeps: a day's papers, several times over
BLOCK_KEY = "_digest_block_key"  # where a loaded paper keeps its fingerprint


def paper_block(*, paper: Paper, day: date) -> PaperBlock:
    """The paper's block, rendered once per day and process however many readers get it."""
    # A chunk loads each paper once for all its readers: its fingerprint is taken once.
    key = paper.__dict__.get(BLOCK_KEY)
    if key is None or key[0] != day:
        key = paper.__dict__[BLOCK_KEY] = (day, _fingerprint(paper, day))
    key = key[1]
    if key not in _blocks:
        if len(_blocks) >= BLOCK_CACHE_SIZE:
            _blocks.clear()
        _blocks[key] = render_block(paper=paper, day=day)
    return _blocks[key]


@dataclass(frozen=True)
class LoadedItem:
    """What a digest shows of one of its items (a DeliveryItem's fields with its paper),
    loaded for a whole chunk of digests at once without a model instance per item."""

    paper: Paper
    paper_id: str
    section: str
    why: str


# Where the sending path puts a delivery's LoadedItems, in order (delivery._pending).
ITEMS_ATTR = "loaded_items"


def _items(delivery: Delivery) -> list[DeliveryItem] | list[LoadedItem]:
    loaded = getattr(delivery, ITEMS_ATTR, None)
    return list(delivery.items.all()) if loaded is None else loaded


@dataclass(frozen=True)
class DigestEntry:
    block: PaperBlock
    why: str
    more_url: str
    less_url: str
    section: str


def _sections(entries: list[DigestEntry]) -> list[tuple[str, list[DigestEntry]]]:
    """(heading, entries) of the digest's sections that have papers, in order."""
    sections = [
        (heading, [entry for entry in entries if entry.section == value])
        for value, heading in _headings(get_language())
    ]
    return [(heading, chosen) for heading, chosen in sections if chosen]


@cache
def _headings(language: str | None) -> tuple[tuple[str, str], ...]:
    # (section, heading) in `language`: a lazy label costs a translation lookup each time.
    return tuple((value, str(label)) for value, label in DeliveryItem.Section.choices)


# --- Personal parts: each template rendered once with markers, the reader's values filled in

# A marker per personal value; the "<" comes out as "&lt;" where the template escapes it.
MARKER = re.compile("\ue000(\\d+)(<|&lt;)\ue001")


@dataclass(frozen=True)
class Filled:
    """A template rendered with a marker for each personal value, cut at the markers.
    Filling the gaps with a reader's values, escaped where the template escaped the marker,
    gives what Django renders with those values, for plain `{{ name }}` outputs."""

    pieces: tuple[str, ...]
    slots: tuple[tuple[str, bool], ...]  # (name, escaped) of each gap between two pieces

    def fill(self, values: dict[str, str]) -> str:
        out = [self.pieces[0]]
        for (name, escaped), piece in zip(self.slots, self.pieces[1:], strict=True):
            value = values[name]
            out.append(_escaped(value) if escaped else str(value))
            out.append(piece)
        return "".join(out)


def _escaped(value: object) -> str:
    """What the template engine's autoescape writes for `value` (conditional_escape, without
    its lazy-string wrapper): safe HTML as it is, anything else escaped."""
    if hasattr(value, "__html__"):
        return value.__html__()
    return html.escape(str(value))


def _render(name: str, context: dict) -> str:
    if name.endswith(".html"):
        return render_html(name, context)
    return render_to_string(name, context)


@cache
def _compiled(name: str, constants: tuple[tuple[str, object], ...], names: tuple) -> Filled:
    markers = {slot: f"\ue000{i}<\ue001" for i, slot in enumerate(names)}
    cut = MARKER.split(_render(name, {**dict(constants), **markers}))
    gaps = zip(cut[1::3], cut[2::3], strict=True)
    slots = tuple((names[int(index)], form == "&lt;") for index, form in gaps)
    pieces = tuple(cut[0::3])
    if any("\ue000" in piece for piece in pieces):  # a marker changed by a filter
        raise ValueError(f"{name}: a personal value may only be written as {{{{ name }}}}")
    return Filled(pieces=pieces, slots=slots)


def render_personal(name: str, *, constants: dict, personal: dict, compiled: bool) -> str:
    """Template `name` with the same `constants` for many readers and one reader's
    `personal` values: from the template rendered once per process and constants
    (`compiled`), or by Django each time (the reference the tests and bench/send.py compare
    with)."""
    if not compiled:
        return _render(name, {**constants, **personal})
    key = tuple(sorted(constants.items()))
    return _compiled(name, key, tuple(sorted(personal))).fill(personal)


def _body(
    kind: str, *, day: date, entries: list[DigestEntry], personal: dict, compiled: bool
) -> str:
    """The digest's text or HTML (`kind`: txt or html): its sections' headings and entries in
    the frame (emails/digest.*)."""
    parts = []
    for heading, chosen in _sections(entries):
        parts.append(
            render_personal(
                f"emails/_section.{kind}",
                constants={"heading": heading},
                personal={},
                compiled=compiled,
            )
        )
        for number, entry in enumerate(chosen, 1):
            values = {
                "number": str(number),
                "block": entry.block.html if kind == "html" else entry.block.text,
                "why": entry.why,
                "more_url": entry.more_url,
                "less_url": entry.less_url,
            }
            parts.append(
                render_personal(
                    f"emails/_entry.{kind}", constants={}, personal=values, compiled=compiled
                )
            )
    for_you = any(entry.section == DeliveryItem.Section.FOR_YOU for entry in entries)
    constants = {"day": day, "for_you": for_you, "site": settings.SITE_URL}
    frame = {**personal, "sections": mark_safe("".join(parts))}
    return render_personal(
        f"emails/digest.{kind}", constants=constants, personal=frame, compiled=compiled
    )


def _entry(
    item: DeliveryItem | LoadedItem, *, day: date, feedback: str, compiled: bool
) -> DigestEntry:
    block = paper_block if compiled else render_block
    return DigestEntry(
        block=block(paper=item.paper, day=day),
        why=one_line(item.why),
        more_url=feedback.format(item.paper_id, "more"),
        less_url=feedback.format(item.paper_id, "less"),
        section=item.section,
    )


def digest_message(*, delivery: Delivery, compiled: bool = True) -> EmailMultiAlternatives:
    """The digest of a planned delivery (its items, papers and code links prefetched): each
    paper's block rendered once per day and process, each template once, the reader's values
    filled in, the MIME message written in one pass. `compiled=False` renders everything by
    Django for each reader and builds the message with Django's own MIME classes: the
    straightforward rendering, which gives the same bytes (tests/services/test_compose.py)."""
    subscriber, day = delivery.subscriber, delivery.local_date
    token = feedback_token(subscriber=subscriber, delivery_id=delivery.pk)
    # The paper and the answer are still placeholders: one route for the whole digest.
    feedback = absolute(_route("subscription-feedback", 3).format(token, "{}", "{}"))
    items = _items(delivery)
    entries = [_entry(item, day=day, feedback=feedback, compiled=compiled) for item in items]
    unsubscribe = unsubscribe_url(subscriber=subscriber)
    subject = digest_subject(day=day, titles=[entry.block.title for entry in entries])
    personal = {
        "subject": subject,
        "archive_url": archive_url(day=day, paper_ids=[item.paper_id for item in items]),
        "preferences_url": preferences_url(subscriber=subscriber),
        "unsubscribe_url": unsubscribe,
    }
    bodies = {
        kind: _body(kind, day=day, entries=entries, personal=personal, compiled=compiled)
        for kind in ("txt", "html")
    }
    return _email(
        subject=subject,
        to=subscriber.email,
        text=bodies["txt"],
        html=bodies["html"],
        headers=list_headers(
            unsubscribe=unsubscribe, mailto=unsubscribe_mailto(subscriber=subscriber)
        ),
        one_pass=compiled,
    )
