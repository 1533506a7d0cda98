"""Papers a reader knows become liked papers; the ones we lack are fetched from arXiv by id
(the loopback arXiv answers lookups with the recorded entries)."""

import pytest

from digest.models import Paper, PaperFeedback, Subscriber
from digest.references import arxiv_ids_in
from digest.services.seeds import like_papers
from digest.services.sources.records import SourceError

pytestmark = [pytest.mark.django_db, pytest.mark.network_replay]


@pytest.fixture
def reader(corpus):
    return Subscriber.objects.create(email="seed@example.org", status=Subscriber.Status.ACTIVE)


def _liked(reader: Subscriber) -> set[str]:
    likes = PaperFeedback.objects.filter(subscriber=reader, kind=PaperFeedback.Kind.LIKE)
    return set(likes.values_list("paper_id", flat=True))


def test_pasted_ids_become_liked_papers_and_unknown_ones_are_fetched(reader, arxiv_upstream):
    # 2512.13690 is stored; 2512.13410 (second recorded page) is not, nor is 2512.99999.
    pasted = "https://arxiv.org/abs/2512.13690v1\narXiv:2512.13410v1, 2512.99999"
    assert not Paper.objects.filter(pk="2512.13410").exists()
    report = like_papers(subscriber_id=reader.pk, arxiv_ids=arxiv_ids_in(pasted))
    assert (report.liked, report.fetched, report.unknown) == (
        ["2512.13690", "2512.13410"],
        1,
        ["2512.99999"],
    )
    assert Paper.objects.get(pk="2512.13410").categories.exists()  # arXiv's own record
    assert _liked(reader) == {"2512.13690", "2512.13410"}
    lookups = [path for path in arxiv_upstream.requests if "id_list" in path]
    assert lookups and all("2512.13690" not in path for path in lookups)


def test_known_papers_need_no_request(reader, arxiv_upstream):
    like_papers(subscriber_id=reader.pk, arxiv_ids=["2512.13690", "2512.13689"])
    assert arxiv_upstream.requests == []
    assert _liked(reader) == {"2512.13690", "2512.13689"}


def test_arxiv_down_raises_for_the_retry_and_records_nothing_half_done(reader, arxiv_upstream):
    arxiv_upstream.routes["/api/query"] = lambda params: (503, {}, b"Service Unavailable")
    with pytest.raises(SourceError):
        like_papers(subscriber_id=reader.pk, arxiv_ids=["2512.13410"])
    assert _liked(reader) == set()
    assert not Paper.objects.filter(pk="2512.13410").exists()
