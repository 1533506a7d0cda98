"""Trending score: hand-checked values, parts that add up, and the human why-line."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.services.ranking.trending_formula import (
    PART_NAMES,
    TrendingWeights,
    explain,
    trending_scores,
)

WEIGHTS = TrendingWeights(
    upvotes=1.0, comments=0.5, stars=0.25, star_growth=0.75, code=0.7, half_life_days=2.0
)


def score(**signals) -> "np.ndarray":
    columns = {
        "upvotes": [0.0],
        "num_comments": [0.0],
        "stars": [0.0],
        "star_growth": [np.nan],
        "has_code": [False],
        "age_days": [0.0],
    }
    columns.update({name: [value] for name, value in signals.items()})
    return trending_scores(**{k: np.array(v) for k, v in columns.items()}, weights=WEIGHTS)


def test_score_matches_the_formula_by_hand():
    result = score(upvotes=3, num_comments=1, stars=7, star_growth=1, has_code=True)
    expected = 1.0 * math.log(4) + 0.5 * math.log(2) + 0.25 * math.log(8) + 0.75 * math.log(2)
    assert result.score[0] == pytest.approx(expected + 0.7)
    assert result.parts["code"][0] == pytest.approx(0.7)


def test_one_half_life_halves_every_part():
    fresh = score(upvotes=10, stars=50, has_code=True)
    older = score(upvotes=10, stars=50, has_code=True, age_days=2.0)
    for name in PART_NAMES:
        assert older.parts[name][0] == pytest.approx(fresh.parts[name][0] / 2)


def test_parts_add_up_to_the_score_exactly():
    rng = np.random.default_rng(0)
    p = 500
    result = trending_scores(
        upvotes=rng.integers(0, 400, p).astype(float),
        num_comments=rng.integers(0, 40, p).astype(float),
        stars=rng.integers(0, 20_000, p).astype(float),
        star_growth=np.where(rng.random(p) < 0.3, np.nan, rng.integers(-5, 500, p)),
        has_code=rng.random(p) < 0.5,
        age_days=rng.random(p) * 30,
        weights=WEIGHTS,
    )
    assert list(result.parts) == list(PART_NAMES)
    np.testing.assert_array_equal(sum(result.parts.values()), result.score)


def test_unknown_and_negative_signals_count_as_zero():
    baseline = score()
    assert score(star_growth=np.nan).score[0] == baseline.score[0] == 0.0
    assert score(star_growth=-30).score[0] == 0.0
    assert score(upvotes=np.nan, stars=np.nan, num_comments=-1).score[0] == 0.0


def test_future_dates_do_not_boost_a_paper():
    assert score(upvotes=5, age_days=-3).score[0] == score(upvotes=5).score[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [({"age_days": np.nan}, "age_days"), ({"half_life_days": 0.0}, "half_life_days")],
)
def test_bad_inputs_are_refused(change, message):
    weights = TrendingWeights(half_life_days=change.get("half_life_days", 2.0))
    with pytest.raises(ValueError, match=message):
        trending_scores(
            upvotes=np.zeros(1),
            num_comments=np.zeros(1),
            stars=np.zeros(1),
            star_growth=np.zeros(1),
            has_code=np.zeros(1, bool),
            age_days=np.array([change.get("age_days", 0.0)]),
            weights=weights,
        )


@given(
    upvotes=st.integers(0, 10_000),
    extra=st.integers(1, 1_000),
    age=st.floats(0, 60, allow_nan=False),
)
def test_more_upvotes_never_rank_lower(upvotes, extra, age):
    assert (
        score(upvotes=upvotes + extra, age_days=age).score[0]
        > score(upvotes=upvotes, age_days=age).score[0]
    )


def why(**signals) -> str:
    defaults = {
        "upvotes": 0,
        "num_comments": 0,
        "star_growth": float("nan"),
    }
    return explain(**{**defaults, **signals})


def test_explain_names_every_known_signal():
    line = why(upvotes=38, star_growth=120)
    assert line == "38 upvotes on Hugging Face, +120 stars a day"


def test_explain_uses_singulars():
    line = why(upvotes=1, num_comments=1, star_growth=1)
    assert line == "1 upvote on Hugging Face, 1 comment, +1 star a day"


def test_explain_says_nothing_when_nobody_reacted():
    # Code and age are on the card already: a why-line of only those would repeat it.
    assert why(upvotes=None, num_comments=np.float64("nan")) == ""


def test_explain_says_no_growth_when_none_was_measured():
    assert why(upvotes=2, star_growth=np.float64(0)) == "2 upvotes on Hugging Face"
