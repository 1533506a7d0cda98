"""The operators' dashboard in the admin: today's digests by state, the last ingestion runs,
the moderation queue and a chart of the digests sent per day over the last 30 days. Plain
HTML and an SVG drawn here: no script, no inline style (the Content-Security-Policy)."""

from dataclasses import dataclass
from datetime import date

from django.contrib import admin
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from digest.services import operations

CHART_DAYS = 30
CHART_WIDTH, CHART_HEIGHT, BAR_GAP = 600, 120, 2
RUNS_SHOWN = 10


@dataclass(frozen=True)
class Bar:
    day: date
    count: int
    x: int
    y: int
    width: int
    height: int


def bars(counts: list[tuple[date, int]], *, width: int, height: int) -> list[Bar]:
    """One bar per day, scaled so that the busiest day fills the height (pure)."""
    top = max((count for _, count in counts), default=0) or 1
    step = width // max(len(counts), 1)
    chart = []
    for n, (day, count) in enumerate(counts):
        tall = round(height * count / top)
        chart.append(Bar(day, count, n * step, height - tall, step - BAR_GAP, tall))
    return chart


def dashboard(request: HttpRequest) -> TemplateResponse:
    today = timezone.now().date()
    states = operations.deliveries_by_state(since=today).get(today, {})
    sent = operations.sent_per_day(today=today, days=CHART_DAYS)
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "today": today,
        "states": [(label, states.get(value, 0)) for value, label in operations.State.choices],
        "runs": operations.latest_runs(count=RUNS_SHOWN),
        "moderation_queue": operations.moderation_queue_size(),
        "bars": bars(sent, width=CHART_WIDTH, height=CHART_HEIGHT),
        "sent_total": sum(count for _, count in sent),
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "chart_days": CHART_DAYS,
    }
    return TemplateResponse(request, "admin/digest/dashboard.html", context)
