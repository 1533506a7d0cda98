"""Search by meaning on the recorded corpus, with exact titles winning, and related papers."""

from datetime import date

import pytest

from digest.api.filters import PaperFilter
from digest.models import Paper
from digest.services.papers import visible_papers
from digest.services.search import related_papers, search_papers

pytestmark = pytest.mark.django_db


def test_a_paraphrase_of_an_abstract_finds_the_paper(corpus):
    # 2512.13690 (DiffusionBrowser), described without its title words.
    hits = search_papers(
        query="lightweight decoders that let users watch a video generator's intermediate "
        "results while it denoises, at faster than real time"
    )
    assert hits[0].paper.pk == "2512.13690"
    assert not hits[0].title_match


def test_an_exact_title_phrase_wins(corpus):
    title = Paper.objects.get(pk="2512.13689").title
    hits = search_papers(query=title.split(":")[0])
    assert hits[0].paper.pk == "2512.13689"
    assert hits[0].title_match


def _among(**data) -> PaperFilter:
    return PaperFilter(data=data, queryset=visible_papers()).qs


def test_the_filters_papers_are_searched(corpus):
    query = "large language model agents"
    with_code = search_papers(query=query, among=_among(has_code="true"))
    assert with_code and all(hit.paper.code_links.exists() for hit in with_code)
    in_cv = search_papers(query=query, among=_among(category="cs.CV"))
    assert in_cv and all(hit.paper.categories.filter(term="cs.CV").exists() for hit in in_cv)
    recent = search_papers(query=query, among=_among(published_after="2026-01-01"))
    assert recent and all(hit.paper.published.date() >= date(2026, 1, 1) for hit in recent)
    assert search_papers(query=query, among=_among(published_before="2000-01-01")) == []


def test_blank_queries_find_nothing(corpus):
    assert search_papers(query="   ") == []


def test_related_papers_are_near_neighbours_and_never_hidden(corpus):
    paper = Paper.objects.get(pk="2512.13690")
    related = related_papers(paper=paper, limit=5)
    assert len(related) == 5 and paper not in related
    Paper.objects.filter(pk=related[0].pk).update(hidden=True)
    assert related[0] not in related_papers(paper=paper, limit=5)


def test_a_short_name_matches_whole_words_not_letters_inside_words(corpus):
    # StutterFuse (2512.13632) and "Memory in the Age of AI Agents" (2512.13564) name RAG;
    # "World Models Can Leverage Human Videos ..." (2512.13644) only holds its letters.
    hits = search_papers(query="RAG", limit=10)
    ids = [hit.paper.pk for hit in hits]
    assert {"2512.13632", "2512.13564"} <= set(ids[:3])
    assert not any(hit.title_match for hit in hits)  # no title holds the word RAG
    assert "2512.13644" not in ids[:3]


def test_an_exact_term_the_model_does_not_know_is_found_by_its_words(corpus):
    # SEP-28k, a stuttering data set named only by StutterFuse.
    assert search_papers(query="SEP-28k")[0].paper.pk == "2512.13632"
