"""Tests for digest.code_announced on the recorded abstracts and comments (../shared/data),
against the hand labels of bench/code_announced_labels.json. Pure: no database, no network."""

import json
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.code_announced import recorded_texts
from digest.code_announced import code_announcement

LABELS = json.loads(
    (Path(__file__).resolve().parents[1] / "bench" / "code_announced_labels.json").read_text()
)


@cache
def texts() -> dict[str, str]:
    return recorded_texts(LABELS["recordings"])


@pytest.mark.parametrize("arxiv_id", sorted(LABELS["announced"]))
def test_a_promise_of_code_in_a_recorded_abstract_is_found(arxiv_id):
    sentence = code_announcement(texts()[arxiv_id])
    assert sentence is not None
    # The sentence found is the one the labeller quoted.
    assert LABELS["announced"][arxiv_id][:30].lower() in sentence.lower()


@pytest.mark.parametrize("arxiv_id", sorted(LABELS["hard_negatives"]))
def test_code_that_is_out_now_or_no_code_at_all_is_no_announcement(arxiv_id):
    assert code_announcement(texts()[arxiv_id]) is None


def test_no_recorded_paper_outside_the_labels_is_taken_for_an_announcement():
    found = {pk for pk, text in texts().items() if code_announcement(text)}
    assert found == set(LABELS["announced"])


@pytest.mark.parametrize(
    "description",
    # What placeholder repositories say in their GitHub description (not in the recordings).
    ["Code coming soon!", "Official repository. Code will be released soon.", "Stay tuned"],
)
def test_a_placeholder_repository_description_announces_code(description):
    assert code_announcement(description) is not None


def test_a_url_inside_the_sentence_does_not_split_it():
    text = "Code will be released at https://github.com/a/b.c after review."
    assert code_announcement(text) == text


@given(st.one_of(st.text(), st.none(), st.integers()))
def test_any_input_gives_a_sentence_of_it_or_none_and_never_raises(text):
    found = code_announcement(text)
    assert found is None or (isinstance(text, str) and found in " ".join(text.split()))
