"""GET /api/papers/ and /api/papers/<id>/ on the recorded corpus: every field, every filter,
pagination, errors."""

from datetime import date, datetime

import pytest

from digest.models import Paper
from digest.services.moderation import PaperAction, moderate_papers

pytestmark = pytest.mark.django_db

FIELDS = {
    "arxiv_id",
    "title",
    "abstract",
    "authors",
    "primary_category",
    "categories",
    "published",
    "abs_url",
    "pdf_url",
    "code_url",
    "project_url",
    "stars",
    "code_status",
    "code_released_at",
    "upvotes",
    "trending_score",
    "why",
    "url",
}


def every_page(client, **params) -> list[dict]:
    """All items of a listing, following `next` links as a client would."""
    response = client.get("/api/papers/", {"page_size": 100, **params})
    items = []
    while True:
        assert response.status_code == 200, response.content
        items += response.json()["results"]
        if not response.json()["next"]:
            return items
        response = client.get(response.json()["next"])


def test_an_empty_database_gives_an_empty_list(client):
    response = client.get("/api/papers/")
    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_every_visible_paper_by_trending_score(client, corpus):
    items = every_page(client)
    assert len(items) == Paper.objects.count() == 130
    scores = [item["trending_score"] for item in items]
    assert None not in scores
    assert scores == sorted(scores, reverse=True)
    assert all(set(item) == FIELDS for item in items)


def test_an_arxiv_paper_with_a_code_link_in_its_abstract(client, corpus):
    item = client.get("/api/papers/2512.13689/").json()
    paper = Paper.objects.get(pk="2512.13689")
    assert item["title"] == paper.title and item["title"].startswith("LitePT")
    # Plain Unicode: "$3.6\times$ fewer parameters" as a reader would write it.
    assert "3.6\u00d7 fewer parameters, runs 2\u00d7 faster" in item["abstract"]
    assert "$" not in item["abstract"] and "\\" not in item["abstract"]
    assert item["authors"] == paper.authors and isinstance(item["authors"][0], str)
    assert item["primary_category"] == "cs.CV"
    assert "cs.CV" in item["categories"]
    assert datetime.fromisoformat(item["published"]) == paper.published
    assert item["abs_url"] == "https://arxiv.org/abs/2512.13689"
    assert item["pdf_url"] == "https://arxiv.org/pdf/2512.13689"
    assert item["code_url"] == "https://github.com/prs-eth/LitePT"
    assert item["stars"] is None  # arXiv says nothing about stars
    assert item["upvotes"] is None  # never featured on Hugging Face
    assert isinstance(item["trending_score"], float)
    # Nobody has reacted yet; its code and age are fields of their own, not repeated here.
    assert item["why"] == ""
    assert item["url"] == "http://testserver/papers/2512.13689/"
    assert client.get(item["url"]).status_code == 200


def test_a_hugging_face_paper_has_upvotes_stars_and_its_repository(client, corpus):
    item = client.get("/api/papers/2606.12730/").json()
    assert (
        item["code_url"] == "https://github.com/psychology-of-AI/Rethinking-Pyschometric-Eval-LLMs"
    )
    assert isinstance(item["stars"], int)
    assert item["upvotes"] > 0
    assert "upvote" in item["why"]


def test_detail_adds_related_papers(client, corpus):
    item = client.get("/api/papers/2512.13690/").json()
    assert set(item) == FIELDS | {"related"}
    assert len(item["related"]) == 5
    assert all(set(related) == {"arxiv_id", "title"} for related in item["related"])
    assert "2512.13690" not in {related["arxiv_id"] for related in item["related"]}
    titles = dict(Paper.objects.values_list("pk", "title"))
    assert all(titles[related["arxiv_id"]] == related["title"] for related in item["related"])


def test_unknown_and_malformed_ids_are_404s_with_a_message(client, corpus):
    for path in ("/api/papers/0000.00000/", "/api/papers/not%20an%20id/"):
        response = client.get(path)
        assert response.status_code == 404
        assert "No paper" in response.json()["detail"]


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_versioned_id_answers_the_paper(client, corpus, version):
    response = client.get(f"/api/papers/2512.13689{version}/")
    assert response.status_code == 200
    assert response.json()["arxiv_id"] == "2512.13689"
    assert client.get("/api/papers/0000.00000v2/").status_code == 404


def test_pages_link_to_each_other(client, corpus):
    first = client.get("/api/papers/", {"page_size": 50}).json()
    assert first["count"] == 130 and len(first["results"]) == 50
    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/papers/?page=2&page_size=50"
    third = client.get("/api/papers/", {"page_size": 50, "page": 3}).json()
    assert len(third["results"]) == 30 and third["next"] is None
    assert third["previous"] == "http://testserver/api/papers/?page=2&page_size=50"
    assert client.get("/api/papers/", {"page": 4, "page_size": 50}).status_code == 404


def test_page_size_is_capped(client, corpus, settings):
    settings.API_MAX_PAGE_SIZE = 40
    assert len(client.get("/api/papers/", {"page_size": 1000}).json()["results"]) == 40


def test_category_filter(client, corpus):
    items = every_page(client, category="cs.CL")
    expected = Paper.objects.filter(categories__term="cs.CL").count()
    assert 0 < len(items) == expected < 130
    assert all("cs.CL" in item["categories"] for item in items)
    assert client.get("/api/papers/", {"category": "no.such"}).json()["count"] == 0


def test_code_status_and_the_announced_filter(client, corpus):
    announced = every_page(client, code_status="announced")
    # "... we will release the associated code, data, and weights ..." (recorded abstract).
    assert "2512.13573" in {item["arxiv_id"] for item in announced}
    assert {item["code_status"] for item in announced} == {"announced"}
    assert all(item["code_released_at"] is None for item in announced)
    released = client.get("/api/papers/2512.13689/").json()
    assert released["code_status"] == "released"
    assert released["code_released_at"] is not None
    everything = every_page(client)
    assert len(announced) == sum(item["code_status"] == "announced" for item in everything)


def test_has_code_filter(client, corpus):
    with_code = every_page(client, has_code="true")
    without = every_page(client, has_code="false")
    assert with_code and without and len(with_code) + len(without) == 130
    assert all(item["code_url"] for item in with_code)
    assert not any(item["code_url"] for item in without)


def test_published_after_filter(client, corpus):
    items = every_page(client, published_after="2026-01-01")
    assert len(items) == 30  # the Hugging Face day; the arXiv page is from December 2025
    assert all(item["published"] >= "2026-01-01" for item in items)


def test_featured_on_filter_covers_hugging_face_days_and_editors_pins(
    client, corpus, admin_user, django_capture_on_commit_callbacks
):
    featured = every_page(client, featured_on="2026-06-12")
    assert len(featured) == 30
    assert client.get("/api/papers/", {"featured_on": "2025-12-15"}).json()["count"] == 0
    with django_capture_on_commit_callbacks(execute=True):
        moderate_papers(
            paper_ids=["2512.13689"],
            action=PaperAction.FEATURE,
            actor=admin_user,
            reason="worth a look",
            day=date(2025, 12, 15),
        )
    pinned = client.get("/api/papers/", {"featured_on": "2025-12-15"}).json()
    assert [item["arxiv_id"] for item in pinned["results"]] == ["2512.13689"]


def test_q_searches_by_meaning_like_the_site(client, corpus):
    query = "interactive previews of video diffusion models"
    items = client.get("/api/papers/", {"q": query}).json()["results"]
    site = client.get("/search", {"q": query}).context["papers"]
    assert items[0]["arxiv_id"] == "2512.13690" == site[0].pk
    assert [item["arxiv_id"] for item in items] == [paper.pk for paper in site][: len(items)]


def test_q_combines_with_filters(client, corpus):
    items = every_page(client, q="large language model agents", category="cs.CV", has_code="true")
    assert items
    assert all("cs.CV" in item["categories"] and item["code_url"] for item in items)


def test_q_with_featured_on_searches_that_days_papers(client, corpus, settings):
    # Few enough best matches overall that none of them is from the day asked for.
    settings.API_SEARCH_LIMIT = 5
    query = "lightweight point cloud transformer"
    day = {item["arxiv_id"] for item in every_page(client, featured_on="2026-06-12")}
    overall = [item["arxiv_id"] for item in every_page(client, q=query)]
    assert not day & set(overall)
    items = every_page(client, q=query, featured_on="2026-06-12")
    assert len(items) == 5
    assert {item["arxiv_id"] for item in items} <= day


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"has_code": "maybe"}, "has_code"),
        ({"code_status": "soon"}, "code_status"),
        ({"published_after": "last week"}, "published_after"),
        ({"featured_on": "2026-13-45"}, "featured_on"),
        ({"q": "nul\x00byte"}, "q"),
        ({"page": "two"}, "page"),
        ({"page": "0"}, "page"),
        ({"page_size": "-5"}, "page_size"),
    ],
)
def test_bad_parameters_are_400s_naming_the_parameter(client, corpus, params, name):
    response = client.get("/api/papers/", params)
    assert response.status_code == 400
    messages = response.json()[name]
    assert messages and all(isinstance(message, str) and message for message in messages)


def test_hidden_papers_never_appear(client, corpus, admin_user, django_capture_on_commit_callbacks):
    every_page(client)  # cached before the change: the change must make the cache stale
    with django_capture_on_commit_callbacks(execute=True):
        moderate_papers(
            paper_ids=["2512.13690"], action=PaperAction.HIDE, actor=admin_user, reason="spam"
        )
    assert "2512.13690" not in {item["arxiv_id"] for item in every_page(client)}
    searched = client.get("/api/papers/", {"q": "interactive previews of video diffusion models"})
    assert "2512.13690" not in {item["arxiv_id"] for item in searched.json()["results"]}
    assert client.get("/api/papers/2512.13690/").status_code == 404
    related = client.get("/api/papers/2512.13689/").json()["related"]
    assert "2512.13690" not in {item["arxiv_id"] for item in related}
