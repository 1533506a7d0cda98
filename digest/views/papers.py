from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from digest.services.papers import latest_papers


def paper_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(latest_papers(), 50).get_page(request.GET.get("page"))
    return render(request, "digest/paper_list.html", {"page": page})
