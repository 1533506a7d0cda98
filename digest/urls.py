from django.contrib import admin
from django.urls import path

from digest import views

urlpatterns = [
    path("", views.paper_list, name="paper-list"),
    path("admin/", admin.site.urls),
]
