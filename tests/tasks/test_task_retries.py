"""What the tasks retry and what they do not, run in this process by `apply()`, which runs
each retry at once."""

from smtplib import SMTPRecipientsRefused

import pytest
from django.db import OperationalError

from digest.models import Subscriber
from digest.services.embedding.papers import EmbedSummary
from tasks.embed import embed_papers
from tasks.mail import send_subscription_email
from tasks.ranking import recompute_trending_scores

pytestmark = pytest.mark.django_db


def _failing_once(monkeypatch, target: str, result: object) -> list[int]:
    """The service `target` raises as a dropped database connection would, once, then
    returns `result`."""
    calls = []

    def service() -> object:
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("server closed the connection unexpectedly")
        return result

    monkeypatch.setattr(target, service)
    return calls


def test_an_embed_run_that_loses_the_database_is_tried_again(monkeypatch):
    summary = EmbedSummary(embedded=3, seconds=1.0, model_name="m", device="cpu")
    calls = _failing_once(monkeypatch, "tasks.embed.embed_missing_papers", summary)
    assert embed_papers.apply().get() == 3
    assert len(calls) == 2


def test_a_trending_run_that_loses_the_database_is_tried_again(monkeypatch):
    calls = _failing_once(monkeypatch, "tasks.ranking.recompute_trending", 7)
    assert recompute_trending_scores.apply().get() == 7
    assert len(calls) == 2


def _pending(email: str) -> Subscriber:
    return Subscriber.objects.create(email=email, interests="LLM agents")


def test_a_confirmation_refused_for_good_is_not_sent_again(smtp_server):
    reader = _pending("gone@example.org")
    smtp_server.refuse[reader.email] = "550 5.1.1 no such user"
    send_subscription_email.apply(args=[reader.pk, "confirm"])
    assert smtp_server.rcpt_attempts[reader.email] == 1


def test_a_confirmation_refused_for_now_is_tried_again(smtp_server):
    reader = _pending("busy@example.org")
    smtp_server.refuse[reader.email] = "450 4.2.1 try later"
    with pytest.raises(SMTPRecipientsRefused):
        send_subscription_email.apply(args=[reader.pk, "confirm"]).get()
    assert smtp_server.rcpt_attempts[reader.email] == 6  # the first try and 5 retries
