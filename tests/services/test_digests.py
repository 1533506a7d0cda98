"""Each subscriber's picks for a day, on the recorded corpus."""

from datetime import date

import pytest

from digest.models import Delivery, DeliveryItem, Paper, Subscriber
from digest.services.ranking.digests import pick_papers, record_feedback

pytestmark = pytest.mark.django_db
DAY = date(2025, 12, 15)


@pytest.fixture
def readers(corpus):
    return {
        "video": Subscriber.objects.create(
            email="v@example.org", status="active", interests="video generation, diffusion models"
        ),
        "agents": Subscriber.objects.create(
            email="a@example.org",
            status="active",
            interests="LLM agents\ntool use",
            categories=["cs.CL"],
            digest_size=5,
        ),
        "blank": Subscriber.objects.create(email="b@example.org", status="active"),
    }


def _ids(picks):
    return [pick.paper_id for pick in picks]


def test_every_reader_gets_their_own_explained_distinct_picks(readers):
    picks = pick_papers(subscriber_ids=[s.pk for s in readers.values()], day=DAY)
    video, agents, blank = (picks[readers[name].pk] for name in ("video", "agents", "blank"))
    assert (len(video), len(agents), len(blank)) == (10, 5, 10)
    for chosen in (video, agents, blank):
        assert len(set(_ids(chosen))) == len(chosen)
        assert all(pick.why for pick in chosen)
    # DiffusionBrowser (2512.13690) is the video-diffusion paper of that day.
    assert "2512.13690" in _ids(video)[:3]
    assert _ids(video)[:3] != _ids(agents)[:3]
    assert video[0].why.startswith("Matches your interests")
    # No interests yet: ranked by trending alone, highest trending score first.
    trending = [p.trending for p in blank]
    assert trending[0] == max(trending)


def test_papers_already_sent_and_hidden_papers_are_excluded(readers):
    reader = readers["video"]
    first = pick_papers(subscriber_ids=[reader.pk], day=DAY)[reader.pk]
    delivery = Delivery.objects.create(subscriber=reader, local_date=date(2026, 6, 11))
    DeliveryItem.objects.create(
        delivery=delivery, paper_id=first[0].paper_id, position=0, score=1, why="sent"
    )
    Paper.objects.filter(pk=first[1].paper_id).update(hidden=True)
    again = _ids(pick_papers(subscriber_ids=[reader.pk], day=DAY)[reader.pk])
    assert first[0].paper_id not in again
    assert first[1].paper_id not in again


def test_papers_of_a_failed_digest_may_come_again(readers):
    reader = readers["video"]
    first = pick_papers(subscriber_ids=[reader.pk], day=DAY)[reader.pk]
    failed = Delivery.objects.create(
        subscriber=reader, local_date=date(2026, 6, 11), state=Delivery.State.FAILED
    )
    DeliveryItem.objects.create(
        delivery=failed, paper_id=first[0].paper_id, position=0, score=1, why="never arrived"
    )
    assert _ids(pick_papers(subscriber_ids=[reader.pk], day=DAY)[reader.pk])[0] == first[0].paper_id


def test_less_like_this_moves_the_reader_away(readers):
    reader = readers["video"]
    before = pick_papers(subscriber_ids=[reader.pk], day=DAY)[reader.pk]
    for pick in before[:3]:
        record_feedback(subscriber_id=reader.pk, paper_id=pick.paper_id, kind="dislike")
    after = pick_papers(subscriber_ids=[reader.pk], day=DAY)[reader.pk]
    relevance = {pick.paper_id: pick.relevance for pick in after}
    assert all(relevance.get(p.paper_id, -1) < p.relevance for p in before[:3])


def test_bad_feedback_kind_is_refused(readers):
    with pytest.raises(ValueError, match="feedback must be one of"):
        record_feedback(subscriber_id=readers["video"].pk, paper_id="2512.13690", kind="love")


def test_a_day_before_any_paper_gives_empty_digests(readers):
    picks = pick_papers(subscriber_ids=[readers["video"].pk], day=date(2000, 1, 1))
    assert picks == {readers["video"].pk: []}
