"""Trending score of papers from their public signals, explainable term by term.

    score = decay * (w_upvotes * log1p(upvotes) + w_comments * log1p(comments)
                     + w_stars * log1p(stars) + w_star_growth * log1p(max(growth, 0))
                     + w_code * has_code)
    decay = 0.5 ** (age_days / half_life_days)

Each part is its term multiplied by the same decay, so the parts add up to the score and a
reader can be told which signal put a paper where it is. log1p because attention is
heavy-tailed: the 500th upvote says less than the 5th. Unknown signals (NaN) count as zero.

Pure module (no Django); the caller fills `TrendingWeights` from settings.
"""

import math
from dataclasses import dataclass

import numpy as np

PART_NAMES = ("upvotes", "comments", "stars", "star_growth", "code")
# What each part is called where a page explains a score.
PART_LABELS = {
    "upvotes": "Hugging Face upvotes",
    "comments": "comments",
    "stars": "GitHub stars",
    "star_growth": "stars gained a day",
    "code": "released code",
}


@dataclass(frozen=True)
class TrendingWeights:
    """Defaults: a Hugging Face upvote is the strongest "people are reading this" signal; a
    repository gaining stars (star_growth: a day, over the last week) says more than its
    all-time total (stars), which mostly measures the lab's fame; comments often are
    questions, so they count half; released code earns a flat bonus worth about one upvote
    (log1p(1) * 1.0 = 0.69). A two-day half-life divides a week-old paper's score by about
    11: the digest is about today."""

    upvotes: float = 1.0
    comments: float = 0.5
    stars: float = 0.25
    star_growth: float = 0.75
    code: float = 0.7
    half_life_days: float = 2.0


DEFAULT_WEIGHTS = TrendingWeights()


@dataclass(frozen=True)
class TrendingResult:
    score: np.ndarray  # (P,) float64
    parts: dict[str, np.ndarray]  # PART_NAMES -> (P,) float64; they sum to `score`


def _counts(values: np.ndarray) -> np.ndarray:
    """Unknown (NaN) and impossible negative counts read as zero."""
    values = np.asarray(values, dtype=np.float64)
    return np.clip(np.nan_to_num(values, nan=0.0, posinf=0.0), 0.0, None)


def trending_scores(
    *,
    upvotes: np.ndarray,
    num_comments: np.ndarray,
    stars: np.ndarray,
    star_growth: np.ndarray,
    has_code: np.ndarray,
    age_days: np.ndarray,
    weights: TrendingWeights = DEFAULT_WEIGHTS,
) -> TrendingResult:
    """Scores of P papers from (P,) signal arrays; see the module docstring for the formula."""
    if weights.half_life_days <= 0:
        raise ValueError(f"half_life_days must be > 0, got {weights.half_life_days}")
    age = np.asarray(age_days, dtype=np.float64)
    if not np.isfinite(age).all():
        raise ValueError("age_days must be finite for every paper")
    decay = 0.5 ** (np.clip(age, 0.0, None) / weights.half_life_days)
    terms = {
        "upvotes": weights.upvotes * np.log1p(_counts(upvotes)),
        "comments": weights.comments * np.log1p(_counts(num_comments)),
        "stars": weights.stars * np.log1p(_counts(stars)),
        "star_growth": weights.star_growth * np.log1p(_counts(star_growth)),
        "code": weights.code * np.asarray(has_code, dtype=np.float64),
    }
    parts = {name: term * decay for name, term in terms.items()}
    score = np.zeros_like(decay)
    for part in parts.values():
        score = score + part
    return TrendingResult(score=score, parts=parts)


def _known_count(value: float | None) -> int:
    """A signal as a whole count; unknown (None/NaN) and negative read as 0."""
    if value is None or not math.isfinite(value) or value <= 0:
        return 0
    return round(float(value))


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    word = singular if count == 1 else plural or f"{singular}s"
    return f"{count:,} {word}"


def explain(
    *,
    upvotes: float | None,
    num_comments: float | None,
    star_growth: float | None,
) -> str:
    """The why-line for one paper from its raw signals, e.g. "38 upvotes on Hugging Face,
    +120 stars a day": what people are doing now. A card or an email item already shows the
    code link with its total stars, and the age, so the line does not say them again. Zero and
    unknown signals are left out; "" when nobody has reacted yet."""
    phrases = []
    if votes := _known_count(upvotes):
        phrases.append(f"{_plural(votes, 'upvote')} on Hugging Face")
    if comments := _known_count(num_comments):
        phrases.append(_plural(comments, "comment"))
    if growth := _known_count(star_growth):
        phrases.append(f"+{_plural(growth, 'star')} a day")
    return ", ".join(phrases)
