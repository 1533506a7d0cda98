"""/metrics for Prometheus: django-prometheus's request, database and cache metrics, then our
own (digest.services.metrics). With METRICS_TOKEN set, a scrape needs it as a bearer token
(Prometheus's `authorization` in its scrape config); production refuses to serve without it."""

import prometheus_client
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.crypto import constant_time_compare
from django_prometheus.exports import ExportToDjangoView

from digest.services import metrics as digest_metrics


def _allowed(request: HttpRequest) -> bool:
    if not settings.METRICS_TOKEN:
        return not settings.PRODUCTION
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return constant_time_compare(given, settings.METRICS_TOKEN)


def metrics(request: HttpRequest) -> HttpResponse:
    if not _allowed(request):
        return HttpResponse(
            "metrics need METRICS_TOKEN as a bearer token\n", status=403, content_type="text/plain"
        )
    response = ExportToDjangoView(request)
    response.content += prometheus_client.generate_latest(digest_metrics.registry())
    return response
