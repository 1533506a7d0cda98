"""RSS 2.0 and Atom feeds of trending papers: overall, per category, and a reader's own.

Built on Django's syndication framework. Each item links our paper page and carries the code
link twice: in its description for people, and as a `related` link for programs.
"""

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.feedgenerator import Atom1Feed, Rss201rev2Feed

from digest.api.caching import cacheable
from digest.models import Category, Paper, Subscriber
from digest.services.papers import primary_code_link, trending_why
from digest.services.personal_feed import PersonalPaper, latest_digest, subscriber_for_feed_token
from digest.services.trending import trending_papers
from digest.text import unicode_text


def _code_link_attrs(item: dict) -> dict[str, str]:
    return {"rel": "related", "href": item["code_url"], "title": "Code"}


class CodeLinkRss(Rss201rev2Feed):
    def add_item_elements(self, handler, item: dict) -> None:
        super().add_item_elements(handler, item)
        # RSS has one link per item: the code goes in as an Atom link (namespace declared).
        if item["code_url"]:
            handler.addQuickElement("atom:link", None, _code_link_attrs(item))


class CodeLinkAtom(Atom1Feed):
    def add_item_elements(self, handler, item: dict) -> None:
        super().add_item_elements(handler, item)
        if item["code_url"]:
            handler.addQuickElement("link", "", _code_link_attrs(item))


class TrendingFeed(Feed):
    """The most talked-about visible papers right now, best first (editors' pins first)."""

    feed_type = CodeLinkRss
    description_template = "feeds/paper.html"
    title = "digest: trending papers"
    description = "Research papers people are talking about, each with its code."
    private = False

    def __call__(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = super().__call__(request, *args, **kwargs)
        return cacheable(request, response, private=self.private)

    def link(self) -> str:
        return reverse("trending")

    def items(self) -> list:
        return list(trending_papers()[: settings.FEED_SIZE])

    # Items are papers here; the personal feed's items wrap a paper with the reader's reason.
    def paper(self, item) -> Paper:
        return item

    def why(self, item) -> str:
        return trending_why(item)

    def item_title(self, item) -> str:
        return unicode_text(self.paper(item).title)

    def item_link(self, item) -> str:
        return reverse("paper-detail", args=[self.paper(item).arxiv_id])

    def item_pubdate(self, item):
        return self.paper(item).published

    def item_updateddate(self, item):
        return self.paper(item).updated

    def item_author_name(self, item) -> str:
        return ", ".join(self.paper(item).authors)

    def item_categories(self, item) -> list[str]:
        return [category.term for category in self.paper(item).categories.all()]

    def item_extra_kwargs(self, item) -> dict:
        link = primary_code_link(self.paper(item))
        return {"code_url": link.url if link else None}

    def get_context_data(self, **kwargs) -> dict:
        item = kwargs["item"]
        return {"paper": self.paper(item), "why": self.why(item)}


class TrendingAtom(TrendingFeed):
    feed_type = CodeLinkAtom


class CategoryFeed(TrendingFeed):
    def get_object(self, request: HttpRequest, term: str) -> Category:
        return get_object_or_404(Category, term=term)

    def title(self, category: Category) -> str:
        return f"digest: trending in {category.term}"

    def link(self, category: Category) -> str:
        return f"{reverse('trending')}?category={category.term}"

    def items(self, category: Category) -> list:
        return list(trending_papers(category=category.term)[: settings.FEED_SIZE])


class CategoryAtom(CategoryFeed):
    feed_type = CodeLinkAtom


class PersonalFeed(TrendingFeed):
    """A reader's own ranking of the latest day; the URL carries their feed token."""

    title = "digest: your papers"
    description = "Papers picked for you, as in your daily digest."
    private = True

    def get_object(self, request: HttpRequest, token: str) -> Subscriber:
        subscriber = subscriber_for_feed_token(token=token)
        if subscriber is None:
            raise Http404("This feed token is not valid (it may have been revoked).")
        return subscriber

    def items(self, subscriber: Subscriber) -> list[PersonalPaper]:
        return latest_digest(subscriber=subscriber).papers

    def paper(self, item: PersonalPaper) -> Paper:
        return item.paper

    def why(self, item: PersonalPaper) -> str:
        return item.reason


class PersonalAtom(PersonalFeed):
    feed_type = CodeLinkAtom
