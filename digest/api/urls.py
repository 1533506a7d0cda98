from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from digest.api import views

urlpatterns = [
    path("papers/", views.PaperList.as_view(), name="api-papers"),
    path("papers/<path:arxiv_id>/", views.PaperDetail.as_view(), name="api-paper"),
    path("digests/<str:day>/", views.DigestOfDay.as_view(), name="api-digest"),
    path("me/papers/", views.PersonalFeed.as_view(), name="api-personal-feed"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # Split: Swagger UI's start-up script comes as a file of its own, not inline, which the
    # Content-Security-Policy would refuse; the page's own styles come from static files too.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html"
        ),
        name="api-docs",
    ),
]
