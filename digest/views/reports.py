"""Readers' "report a problem" on a paper page: a short form, rate-limited per client IP.
A report puts the paper into the admin's moderation queue."""

from django import forms
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from digest.middleware import PAGE_METHODS
from digest.services.moderation import REPORT_MAX_LENGTH, report_problem
from digest.services.papers import visible_papers
from digest.services.rate_limits import client_ip, hit, parse_rate


class ReportForm(forms.Form):
    reason = forms.CharField(
        label="What is wrong with this entry?",
        help_text="For example: the code link points to the wrong repository, or spam.",
        max_length=REPORT_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 5}),
    )


@require_http_methods(PAGE_METHODS)
def report(request: HttpRequest, arxiv_id: str) -> HttpResponse:
    paper = get_object_or_404(visible_papers(), pk=arxiv_id)
    form = ReportForm(request.POST or None)
    status, retry_after = 200, None
    if request.method == "POST":
        limit, window = parse_rate(settings.REPORT_RATE)
        retry_after = hit(key=f"report:{client_ip(request)}", limit=limit, window=window)
        # Refused reports come back with the reader's text, so nothing typed is lost.
        if retry_after is not None:
            form.add_error(None, "Too many reports from your connection: please try later.")
            status = 429
        elif form.is_valid():
            report_problem(paper_id=paper.pk, reason=form.cleaned_data["reason"])
            messages.success(request, "Thank you: an editor will look at this paper.")
            return redirect("paper-detail", arxiv_id=paper.pk)
        else:
            status = 400
    context = {"paper": paper, "form": form}
    response = render(request, "digest/report_problem.html", context, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(int(retry_after) + 1)
    return response
