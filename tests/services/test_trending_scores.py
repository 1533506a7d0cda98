"""Stored trending scores: parts that add up, why-lines from real signals, star growth."""

from datetime import timedelta

import pytest
from django.utils import timezone

from digest.models import CodeLink, StarSnapshot, TrendingScore
from digest.services.sources.fetch import replay
from digest.services.trending import recompute_trending
from tests.conftest import HF_DAILY

pytestmark = pytest.mark.django_db


def test_every_paper_gets_a_score_whose_parts_add_up():
    replay(paths=[HF_DAILY])
    assert recompute_trending() == 30
    for score in TrendingScore.objects.all():
        assert sum(score.parts.values()) == pytest.approx(score.score, rel=1e-9, abs=1e-300)
    top = TrendingScore.objects.get(paper_id="2606.13681")  # 118 upvotes that day
    assert top.why.startswith("118 upvotes on Hugging Face")


def test_star_growth_is_measured_between_our_own_snapshots():
    replay(paths=[HF_DAILY])
    link = CodeLink.objects.filter(stars__gt=0).first()
    now = timezone.now()
    StarSnapshot.objects.filter(code_link=link).update(taken_at=now - timedelta(days=2))
    link.stars += 120
    link.save()
    StarSnapshot.objects.create(code_link=link, stars=link.stars, taken_at=now)
    recompute_trending(now=now)
    score = TrendingScore.objects.get(paper_id=link.paper_id)
    # 120 stars over the two days since our first reading.
    assert "+60 stars a day" in score.why
    assert score.parts["star_growth"] > 0


def test_recomputing_twice_gives_the_same_scores():
    replay(paths=[HF_DAILY])
    now = timezone.now()
    recompute_trending(now=now)
    first = dict(TrendingScore.objects.values_list("paper_id", "score"))
    recompute_trending(now=now)
    assert dict(TrendingScore.objects.values_list("paper_id", "score")) == first
