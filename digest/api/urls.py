from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from digest.api import views

urlpatterns = [
    path("papers/", views.PaperList.as_view(), name="api-papers"),
    path("papers/<path:arxiv_id>/", views.PaperDetail.as_view(), name="api-paper"),
    path("digests/<str:day>/", views.DigestOfDay.as_view(), name="api-digest"),
    path("me/papers/", views.PersonalFeed.as_view(), name="api-personal-feed"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
