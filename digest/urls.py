from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from health_check.views import HealthCheckView

from digest import feeds
from digest.services.health import CHECKS
from digest.views import dashboard, monitoring, papers, reports
from digest.views import subscriptions as subs

urlpatterns = [
    path("", papers.trending, name="trending"),
    # Before paper-detail, whose <path:> would swallow ".../report".
    path("papers/<path:arxiv_id>/report/", reports.report, name="paper-report"),
    path("papers/<path:arxiv_id>/", papers.paper_detail, name="paper-detail"),
    path("search", papers.search, name="search"),
    # Before the admin's own URLs, behind its staff login (issue 16).
    path(
        f"{settings.ADMIN_URL}dashboard/",
        admin.site.admin_view(dashboard.dashboard),
        name="admin-dashboard",
    ),
    path(settings.ADMIN_URL, admin.site.urls),
    # Subscriptions and the daily digest (issue 4)
    path("subscribe", subs.subscribe, name="subscribe"),
    path("subscribe/check-your-inbox", subs.check_inbox, name="subscription-check-inbox"),
    path("subscribe/confirm/<str:token>/", subs.confirm, name="subscription-confirm"),
    path("subscribe/renew/<str:token>/", subs.renew, name="subscription-renew"),
    path("preferences/<str:token>/", subs.preferences, name="subscription-preferences"),
    path("preferences/<str:token>/digests/", subs.past_digests, name="subscription-digests"),
    path("address/<str:token>/", subs.confirm_address, name="subscription-address"),
    path("unsubscribe/<str:token>/", subs.unsubscribe, name="unsubscribe"),
    path(
        "feedback/<str:token>/<path:paper_id>/<str:answer>/",
        subs.feedback,
        name="subscription-feedback",
    ),
    path("digests/<str:day>/", subs.archive, name="digest-archive"),
    # Relays' tracking and inbound webhooks, e.g. mail/postmark/tracking/ (issue 16)
    path("mail/", include("anymail.urls")),
    # For load balancers: 200, or 500 naming the failing part (issue 16).
    path("health/", HealthCheckView.as_view(checks=CHECKS), name="health"),
    path("metrics", monitoring.metrics, name="metrics"),
    # The REST API, RSS/Atom feeds (issue 5)
    path("api/", include("digest.api.urls")),
    path("feeds/trending.rss", feeds.TrendingFeed(), name="feed-trending-rss"),
    path("feeds/trending.atom", feeds.TrendingAtom(), name="feed-trending-atom"),
    path("feeds/category/<str:term>.rss", feeds.CategoryFeed(), name="feed-category-rss"),
    path("feeds/category/<str:term>.atom", feeds.CategoryAtom(), name="feed-category-atom"),
    path("feeds/me/<str:token>.rss", feeds.PersonalFeed(), name="feed-personal-rss"),
    path("feeds/me/<str:token>.atom", feeds.PersonalAtom(), name="feed-personal-atom"),
]

handler404 = "digest.views.errors.not_found"
