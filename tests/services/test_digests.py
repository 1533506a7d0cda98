"""Each reader's digest for a day on the recorded corpus (first arXiv page + Hugging Face day):
"For you" by their several interests, then "Trending today"."""

import json
from datetime import date
from pathlib import Path

import pytest

from digest.models import Delivery, DeliveryItem, Paper, PaperFeedback, Subscriber
from digest.services.embedding.index import paper_index
from digest.services.ranking.digests import (
    FOR_YOU,
    TRENDING,
    pick_papers,
    record_feedback,
    topic_vectors,
)

pytestmark = pytest.mark.django_db
DAY = date(2025, 12, 15)
# The Hugging Face day: its papers have upvotes, so a trending section.
HF_DAY = date(2026, 6, 12)
LABELS = Path(__file__).resolve().parents[2] / "bench" / "relevance_labels.json"


def _reader(email: str, **fields) -> Subscriber:
    return Subscriber.objects.create(email=email, status=Subscriber.Status.ACTIVE, **fields)


def _picks(reader: Subscriber, day: date = DAY):
    return pick_papers(subscriber_ids=[reader.pk], day=day)[reader.pk]


def _for_you(reader: Subscriber) -> list[str]:
    return [pick.paper_id for pick in _picks(reader) if pick.section == FOR_YOU]


def _labelled(name: str) -> dict[str, set[str]]:
    """The hand labels of a benchmark reader (bench/relevance_labels.json), per interest,
    restricted to the papers of the test corpus."""
    reader = next(r for r in json.loads(LABELS.read_text())["readers"] if r["name"] == name)
    stored = set(Paper.objects.values_list("pk", flat=True))
    return {topic: set(ids) & stored for topic, ids in reader["core"].items()}


def test_a_reader_with_two_unrelated_interests_gets_papers_of_both(corpus):
    wanted = _labelled("video-gen-and-manipulation")
    reader = _reader("two@example.org", interests="\n".join(wanted))
    mine = set(_for_you(reader))
    assert all(papers & mine for papers in wanted.values()), (wanted, mine)


def test_why_lines_name_the_interest_that_matched(corpus):
    reader = _reader("two@example.org", interests="video diffusion models\nrobot manipulation")
    for_you = [pick for pick in _picks(reader) if pick.section == FOR_YOU]
    assert for_you
    reasons = {pick.why.split(" · ")[0] for pick in for_you}
    assert reasons <= {
        "Matches your interest 'video diffusion models'",
        "Matches your interest 'robot manipulation'",
    }
    assert len(reasons) == 2
    assert not any("similarity" in pick.why for pick in for_you)


def test_an_exact_name_finds_the_papers_that_name_it_and_not_look_alikes(corpus):
    # StutterFuse (2512.13632) and "Memory in the Age of AI Agents" (2512.13564) name RAG;
    # three titles of the corpus merely hold its letters ("Leverage", "leverage").
    reader = _reader("rag@example.org", interests="RAG")
    mine = _for_you(reader)
    assert {"2512.13632", "2512.13564"} <= set(mine)
    assert not {"2512.13644", "2512.13600", "2606.09446"} & set(mine)


def test_a_dataset_name_with_a_hyphen_is_one_word(corpus):
    # SEP-28k, a stuttering data set, is named only by StutterFuse.
    reader = _reader("sep@example.org", interests="SEP-28k")
    assert _for_you(reader)[:1] == ["2512.13632"]


def test_a_followed_authors_paper_is_in_for_you_and_says_so(corpus):
    # Susung Hong wrote DiffusionBrowser (2512.13690), far from this reader's interests.
    reader = _reader(
        "fan@example.org", interests="post-quantum cryptography", followed_authors=["susung  HONG"]
    )
    first = _picks(reader)[0]
    assert (first.paper_id, first.section) == ("2512.13690", FOR_YOU)
    assert first.why.startswith("By Susung Hong, whom you follow")


def test_a_reader_with_no_match_gets_nothing_unless_they_asked_for_trending(corpus):
    reader = _reader("nothing@example.org", interests="medieval palaeography of monastic charters")
    assert _picks(reader) == [] and _picks(reader, day=HF_DAY) == []
    Subscriber.objects.filter(pk=reader.pk).update(send_when_empty=True, trending_count=4)
    picks = _picks(reader, day=HF_DAY)
    assert [pick.section for pick in picks] == [TRENDING] * 4
    scores = [pick.trending for pick in picks]
    assert scores == sorted(scores, reverse=True)


def test_the_trending_section_follows_and_never_repeats_for_you(corpus):
    reader = _reader("agents@example.org", interests="LLM agents", digest_size=5)
    picks = _picks(reader, day=HF_DAY)
    sections = [pick.section for pick in picks]
    assert sections == [FOR_YOU] * sections.count(FOR_YOU) + [TRENDING] * 3
    ids = [pick.paper_id for pick in picks]
    assert len(ids) == len(set(ids))
    assert sections.count(FOR_YOU) <= 5


def test_only_my_categories_keeps_the_personal_section_to_them(corpus):
    reader = _reader("cr@example.org", categories=["cs.CR"], categories_only=True)
    mine = _for_you(reader)
    assert mine
    in_category = set(Paper.objects.filter(categories__term="cs.CR").values_list("pk", flat=True))
    assert set(mine) <= in_category


def test_liked_papers_are_interests_and_never_come_again(corpus):
    reader = _reader("liker@example.org")
    record_feedback(subscriber_id=reader.pk, paper_id="2512.13690", kind="like")
    mine = _for_you(reader)
    assert mine and "2512.13690" not in mine
    first = _picks(reader)[0]
    assert first.why.startswith("Like 'DiffusionBrowser: Interactive Diffusion Previews")


def test_papers_already_sent_and_hidden_papers_are_excluded(corpus):
    reader = _reader("v@example.org", interests="video generation, diffusion models")
    first = _picks(reader)
    delivery = Delivery.objects.create(subscriber=reader, local_date=date(2026, 6, 11))
    DeliveryItem.objects.create(
        delivery=delivery, paper_id=first[0].paper_id, position=0, score=1, why="sent"
    )
    Paper.objects.filter(pk=first[1].paper_id).update(hidden=True)
    again = [pick.paper_id for pick in _picks(reader)]
    assert first[0].paper_id not in again
    assert first[1].paper_id not in again


def test_papers_of_a_failed_digest_may_come_again(corpus):
    reader = _reader("v@example.org", interests="video generation, diffusion models")
    first = _picks(reader)
    failed = Delivery.objects.create(
        subscriber=reader, local_date=date(2026, 6, 11), state=Delivery.State.FAILED
    )
    DeliveryItem.objects.create(
        delivery=failed, paper_id=first[0].paper_id, position=0, score=1, why="never arrived"
    )
    assert _picks(reader)[0].paper_id == first[0].paper_id


def test_less_like_this_pushes_similar_papers_down(corpus):
    reader = _reader("v@example.org", interests="video generation, diffusion models")
    before = {pick.paper_id: pick.relevance for pick in _picks(reader) if pick.section == FOR_YOU}
    disliked = next(iter(before))
    record_feedback(subscriber_id=reader.pk, paper_id=disliked, kind="dislike")
    after = {pick.paper_id: pick.relevance for pick in _picks(reader) if pick.section == FOR_YOU}
    assert disliked not in after
    assert any(after[pk] < before[pk] for pk in after.keys() & before.keys())


def test_a_changed_interest_is_embedded_again(corpus):
    reader = _reader("changer@example.org", interests="post-quantum cryptography")
    _picks(reader)
    Subscriber.objects.filter(pk=reader.pk).update(interests="SEP-28k", interest_model="")
    assert _for_you(Subscriber.objects.get(pk=reader.pk))[:1] == ["2512.13632"]


def test_bad_feedback_kind_is_refused(corpus):
    reader = _reader("v@example.org")
    with pytest.raises(ValueError, match="feedback must be one of"):
        record_feedback(subscriber_id=reader.pk, paper_id="2512.13690", kind="love")
    assert not PaperFeedback.objects.exists()


def test_a_day_before_any_paper_gives_empty_digests(corpus):
    reader = _reader("v@example.org", interests="video generation")
    assert _picks(reader, day=date(2000, 1, 1)) == []


def test_interests_changed_while_ranking_are_not_overwritten_by_the_old_vectors(corpus):
    # The planner read the reader before they saved new interests; its cache write must not
    # make the old topics' vectors pass for the new ones.
    reader = _reader("racer@example.org", interests="post-quantum cryptography")
    seen_by_planner = Subscriber.objects.get(pk=reader.pk)
    Subscriber.objects.filter(pk=reader.pk).update(interests="SEP-28k", interest_model="")
    topic_vectors([seen_by_planner], paper_index().dim)
    assert Subscriber.objects.get(pk=reader.pk).interest_model == ""
    assert _for_you(reader)[:1] == ["2512.13632"]
