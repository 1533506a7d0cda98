"""The operators' dashboard in the admin, as a staff member sees it."""

import re
from datetime import date, timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from digest.models import Delivery, IngestionRun, Paper, Subscriber
from digest.views.dashboard import bars

pytestmark = pytest.mark.django_db


def _digest(email: str, day: date, state: str) -> None:
    reader, _ = Subscriber.objects.get_or_create(email=email, defaults={"status": "active"})
    Delivery.objects.create(subscriber=reader, local_date=day, state=state)


def test_the_dashboard_shows_today_runs_queue_and_the_chart(client, corpus):
    staff = User.objects.create_user("ops", password="pw", is_staff=True)
    client.force_login(staff)
    today = timezone.now().date()
    for i, state in enumerate(["sent", "sent", "failed", "ambiguous"]):
        _digest(f"r{i}@example.org", today, state)
    for days_ago in (1, 2):
        _digest("r0@example.org", today - timedelta(days_ago), "sent")
    _digest("r0@example.org", today - timedelta(40), "sent")  # outside the 30 days
    Paper.objects.filter(pk__in=list(Paper.objects.values_list("pk", flat=True)[:2])).update(
        flagged=True
    )
    IngestionRun.objects.create(
        source="hf", origin="x", status=IngestionRun.Status.FAILED, error="HTTP 503 upstream"
    )

    response = client.get("/admin/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    cells = re.search(r"<tbody><tr>(.*?)</tr></tbody>", html).group(1)
    # Pending, sending, sent, failed, needs review.
    assert re.findall(r"<td>(\d+)</td>", cells) == ["0", "0", "2", "1", "1"]
    assert "2 flagged papers" in html and "?queue=flagged" in html
    assert "HTTP 503 upstream" in html
    assert "(4 in all)" in html
    assert len(re.findall(r"<rect ", html)) == 30
    # The admin's home page links to it.
    assert "/admin/dashboard/" in client.get("/admin/").content.decode()


def test_visitors_and_readers_do_not_see_it(client):
    assert "/admin/login/" in client.get("/admin/dashboard/")["Location"]
    reader = User.objects.create_user("reader", password="pw")
    client.force_login(reader)
    assert "/admin/login/" in client.get("/admin/dashboard/")["Location"]


def test_bars_scale_to_the_busiest_day():
    days = [(date(2026, 6, d), n) for d, n in [(1, 0), (2, 5), (3, 10)]]
    chart = bars(days, width=300, height=100)
    assert [(b.x, b.height, b.y) for b in chart] == [(0, 0, 100), (100, 50, 50), (200, 100, 0)]
    assert bars([(date(2026, 6, 1), 0)], width=10, height=10)[0].height == 0
