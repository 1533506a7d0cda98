from django.contrib import admin
from django.urls import path

from digest.views import papers

urlpatterns = [
    path("", papers.trending, name="trending"),
    path("papers/<path:arxiv_id>/", papers.paper_detail, name="paper-detail"),
    path("search", papers.search, name="search"),
    path("admin/", admin.site.urls),
]
