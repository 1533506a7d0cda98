"""Subscription pages: signup, confirmation, preferences, one-click unsubscribe, feedback, and
the public "view in browser" archive of a day's digest.

Links from emails never change anything on GET (mail scanners open every link): they show a
page whose button POSTs. The one exception the standards ask for is the RFC 8058 one-click
unsubscribe POST, which carries no cookie and no CSRF token.
"""

from datetime import date
from functools import partial

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from digest.forms import AddressForm, PreferencesForm, SubscribeForm
from digest.middleware import PAGE_METHODS
from digest.models import Subscriber
from digest.services import delivery, personal_feed, reader_data, subscriptions
from digest.services.rate_limits import client_ip, hit
from digest.services.subscriptions import ExpiredLink, LinkError, Signup
from digest.services.trending import trending_papers
from tasks.ingest import seed_liked_papers
from tasks.mail import send_subscription_email

ONE_CLICK = "One-Click"


def _rate_limited(request: HttpRequest) -> HttpResponse | None:
    """Signups (and new confirmation links) per client IP and window, in the shared cache."""
    retry_after = hit(
        key=f"subscribe:{client_ip(request)}",
        limit=settings.SUBSCRIBE_RATE_LIMIT,
        window=settings.SUBSCRIBE_RATE_WINDOW_SECONDS,
    )
    if retry_after is None:
        return None
    response = render(request, "subscriptions/rate_limited.html", status=429)
    response["Retry-After"] = str(int(retry_after) + 1)
    return response


def _notify(signup: Signup | None) -> None:
    if signup is not None:
        transaction.on_commit(
            partial(send_subscription_email.delay, signup.subscriber_id, str(signup.notice))
        )


def _seed(subscriber_id: int | None, form: PreferencesForm) -> None:
    """Papers the reader says they know become liked papers (fetched from arXiv if new)."""
    if subscriber_id is not None and (ids := form.seed_ids()):
        transaction.on_commit(partial(seed_liked_papers.delay, subscriber_id, ids))


def _bad_link(request: HttpRequest, error: LinkError) -> HttpResponse:
    return render(request, "subscriptions/bad_link.html", {"error": error}, status=400)


@require_http_methods(PAGE_METHODS)
def subscribe(request: HttpRequest) -> HttpResponse:
    form = SubscribeForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        # Only a signup that would record something counts: fixing a typo costs nothing.
        if limited := _rate_limited(request):
            return limited
        email = form.cleaned_data["email"]
        _notify(subscriptions.subscribe(email=email, preferences=form.preferences()))
        _seed(subscriptions.awaiting_confirmation(email=email), form)
        # The same answer for a new, pending, confirmed or unsubscribed address.
        return redirect("subscription-check-inbox")
    return render(request, "subscriptions/subscribe.html", {"form": form})


def check_inbox(request: HttpRequest) -> HttpResponse:
    return render(request, "subscriptions/check_inbox.html")


@require_http_methods(PAGE_METHODS)
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        if request.method == "POST":
            subscriber = subscriptions.confirm(token=token)
            manage = subscriptions.preferences_token(subscriber=subscriber)
            return render(request, "subscriptions/confirmed.html", {"token": manage})
        subscriptions.confirmation_for(token=token)
    except ExpiredLink as error:
        return render(
            request, "subscriptions/link_expired.html", {"error": error, "token": token}, status=410
        )
    except LinkError as error:
        return _bad_link(request, error)
    return render(request, "subscriptions/confirm.html", {"token": token})


@require_POST
def renew(request: HttpRequest, token: str) -> HttpResponse:
    if limited := _rate_limited(request):
        return limited
    try:
        _notify(subscriptions.renew_confirmation(token=token))
    except LinkError as error:
        return _bad_link(request, error)
    return redirect("subscription-check-inbox")


def _save_preferences(request: HttpRequest, subscriber: Subscriber) -> PreferencesForm | None:
    """Apply the button pressed; the form comes back only when it has errors to show."""
    action = request.POST.get("action")
    if action == "pause":
        subscriptions.pause(subscriber_id=subscriber.pk)
        messages.success(request, "Paused: no digests until you resume.")
    elif action == "resume":
        subscriptions.resume(subscriber_id=subscriber.pk)
        messages.success(request, "Resumed: your next digest comes at your delivery time.")
    elif action == "new-feed-token":
        had_one = subscriber.feed_token is not None
        personal_feed.revoke_feed_token(subscriber_id=subscriber.pk)
        messages.success(
            request,
            "New feed address made: the old one no longer works."
            if had_one
            else "Your feed addresses are below.",
        )
    else:
        form = PreferencesForm(
            request.POST,
            request.FILES,
            has_liked=bool(subscriptions.liked_papers(subscriber_id=subscriber.pk)),
        )
        if not form.is_valid():
            return form
        subscriptions.update_preferences(
            subscriber_id=subscriber.pk, preferences=form.preferences()
        )
        _seed(subscriber.pk, form)
        messages.success(request, "Saved. Your next digest follows these preferences.")
    return None


def _current(subscriber: Subscriber) -> dict:
    """The preference form as the reader left it."""
    initial = {
        name: getattr(subscriber, name)
        for name in (
            "interests",
            "categories",
            "categories_only",
            "delivery_hour",
            "timezone",
            "digest_size",
            "trending_count",
            "send_when_empty",
            "follow_code_out",
            "follow_taking_off",
            "digest_weekday",
        )
    }
    initial["followed_authors"] = "\n".join(subscriber.followed_authors)
    if subscriber.trending_weight is not None:
        initial["trending_dial"] = round(100 * subscriber.trending_weight)
    return initial


# --- Reader controls (issue 16): address, data, past digests -------------------------------

READER_CONTROLS = ("change-address", "download-data", "delete-data", "delete-data-confirmed")


def _reader_control(
    request: HttpRequest, subscriber: Subscriber, token: str
) -> HttpResponse | AddressForm:
    """The answer to one of READER_CONTROLS, or the address form with its errors."""
    action = request.POST["action"]
    if action == "download-data":
        response = JsonResponse(reader_data.export(subscriber_id=subscriber.pk))
        response["Content-Disposition"] = 'attachment; filename="my-digest-data.json"'
        return response
    if action == "delete-data":
        return render(request, "subscriptions/delete_data.html", {"token": token})
    if action == "delete-data-confirmed":
        reader_data.delete(subscriber_id=subscriber.pk)
        return render(request, "subscriptions/data_deleted.html")
    address_form = AddressForm(request.POST)
    if not address_form.is_valid():
        return address_form
    signup = subscriptions.request_address_change(
        subscriber_id=subscriber.pk, email=address_form.cleaned_data["new_email"]
    )
    _notify(signup)
    messages.success(
        request,
        "Check the inbox of the new address: it takes effect once confirmed there."
        if signup
        else "Nothing to change, or that address was mailed a moment ago: try again later.",
    )
    return redirect("subscription-preferences", token=token)


@require_http_methods(PAGE_METHODS)
def confirm_address(request: HttpRequest, token: str) -> HttpResponse:
    try:
        if request.method == "POST":
            subscriber = subscriptions.confirm_address_change(token=token)
            manage = subscriptions.preferences_token(subscriber=subscriber)
            context = {"token": manage, "subscriber": subscriber}
            return render(request, "subscriptions/address_changed.html", context)
        subscriber = subscriptions.address_change_for(token=token)
    except LinkError as error:  # expired too: the reader asks again from their page
        return _bad_link(request, error)
    return render(request, "subscriptions/confirm_address.html", {"subscriber": subscriber})


def past_digests(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = subscriptions.subscriber_for(token=token, purpose="preferences")
    except LinkError as error:
        return _bad_link(request, error)
    context = {
        "token": token,
        "digests": reader_data.past_digests(subscriber_id=subscriber.pk),
    }
    return render(request, "subscriptions/past_digests.html", context)


@require_http_methods(PAGE_METHODS)
def preferences(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber = subscriptions.subscriber_for(token=token, purpose="preferences")
    except LinkError as error:
        return _bad_link(request, error)
    if request.method == "POST" and request.POST.get("action") == "sign-out-links":
        subscriptions.sign_out_links(subscriber_id=subscriber.pk)
        # No new link on the page: whoever pressed the button may be the one who should
        # not have one. The reader's next email brings them.
        return render(request, "subscriptions/signed_out.html")
    form = address_form = None
    if request.method == "POST" and request.POST.get("action") in READER_CONTROLS:
        answer = _reader_control(request, subscriber, token)
        if isinstance(answer, HttpResponse):
            return answer
        address_form = answer
    elif request.method == "POST" and subscriber.status != Subscriber.Status.UNSUBSCRIBED:
        form = _save_preferences(request, subscriber)
        if form is None:
            return redirect("subscription-preferences", token=token)
    form = form or PreferencesForm(initial=_current(subscriber))
    context = {
        "form": form,
        "token": token,
        "address_form": address_form or AddressForm(),
        "subscriber": subscriber,
        "unsubscribe_token": subscriptions.unsubscribe_token(subscriber=subscriber),
        "liked": subscriptions.liked_papers(subscriber_id=subscriber.pk),
    }
    # Shown once made: a GET (a mail scanner opening the link) creates nothing.
    context["feed"] = subscriber.status in personal_feed.FEED_STATES
    context["feed_token"] = subscriber.feed_token
    return render(request, "subscriptions/preferences.html", context)


@csrf_exempt  # RFC 8058: mailbox providers POST without cookies or a CSRF token
@require_http_methods(PAGE_METHODS)
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    try:
        link = subscriptions.manage_link(token=token, purpose="unsubscribe")
    except LinkError as error:
        return _bad_link(request, error)
    subscriber = link.subscriber
    # A signed-out link still unsubscribes, but no longer shows whose address it is.
    context = {"subscriber": subscriber, "show_address": link.current}
    if request.method != "POST":  # GET, or HEAD from a link checker
        return render(request, "subscriptions/unsubscribe.html", context)
    if request.POST.get("List-Unsubscribe") != ONE_CLICK:
        error = LinkError("An unsubscribe request must carry List-Unsubscribe=One-Click.")
        return _bad_link(request, error)
    subscriptions.unsubscribe(subscriber_id=subscriber.pk)
    # 200 with the answer itself, no redirect: RFC 8058 clients do not follow one.
    return render(request, "subscriptions/unsubscribed.html", context)


@require_http_methods(PAGE_METHODS)
def feedback(request: HttpRequest, token: str, paper_id: str, answer: str) -> HttpResponse:
    link = {"token": token, "paper_id": paper_id, "answer": answer}
    try:
        if request.method == "POST" and request.POST.get("action") == "undo":
            paper = subscriptions.undo_feedback(**link)
            return render(request, "subscriptions/feedback_undone.html", {"paper": paper})
        if request.method == "POST":
            paper, kind = subscriptions.give_feedback(**link)
            return render(
                request, "subscriptions/feedback_saved.html", {"paper": paper, "kind": kind}
            )
        _, paper, kind = subscriptions.feedback_for(**link)
    except LinkError as error:
        return _bad_link(request, error)
    return render(request, "subscriptions/feedback.html", {"paper": paper, "kind": kind})


def archive(request: HttpRequest, day: str) -> HttpResponse:
    """The public copy of a day's digest: no reader, no token, just the papers. The link in an
    email names its papers; without them the page shows the day's public digest (its
    trending papers, as the API's), never the union of what readers were sent, which with few
    readers would tell their picks."""
    try:
        when = date.fromisoformat(day)
    except ValueError as exc:
        raise Http404("the date must be YYYY-MM-DD") from exc
    wanted = [pk for pk in request.GET.get("papers", "").split(",") if pk.strip()]
    if wanted:
        papers = delivery.archived_papers(day=when, paper_ids=wanted)
    else:
        papers = list(trending_papers(day=when)[: settings.API_DIGEST_SIZE])
    if not papers:
        raise Http404("no digest that day")
    return render(request, "subscriptions/archive.html", {"day": when, "papers": papers})
