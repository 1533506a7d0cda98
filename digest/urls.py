from django.contrib import admin
from django.urls import path

from digest.views import papers

urlpatterns = [
    path("", papers.paper_list, name="paper-list"),
    path("admin/", admin.site.urls),
]
