"""Search over every visible paper by meaning and by exact words (hybrid: cosine of the
query's embedding plus BM25 over title + abstract, whole words only), with titles that hold
the query's words in order winning; and "related papers" by nearest neighbours."""

import threading
from dataclasses import dataclass
from itertools import compress

import numpy as np
from django.db.models import Count, Max, QuerySet

from digest.models import Paper
from digest.services.embedding.index import paper_index
from digest.services.embedding.papers import current_embedder
from digest.services.papers import visible_papers, with_cards
from digest.services.ranking.lexical import LexicalIndex, tokens

# A title holding the whole query, word for word, outranks any other match.
EXACT_TITLE_BONUS = 1.0
# Weight of the lexical score (in [0, 1)) against the cosine, as in the digest.
LEXICAL_WEIGHT = 0.8
# Enough candidates of each kind that filtering still leaves `limit` results.
OVERSAMPLE = 4
MAX_QUERY_LENGTH = 500


@dataclass(frozen=True)
class _Corpus:
    ids: list[str]
    titles: dict[str, str]  # by id
    lexical: LexicalIndex
    stamp: tuple


_lock = threading.Lock()
_corpus: _Corpus | None = None


def _lexical_corpus() -> _Corpus:
    """BM25 over every visible paper, built once per process and again after papers change
    (one aggregate query decides), like the vector index."""
    global _corpus
    stamp = tuple(visible_papers().aggregate(n=Count("pk"), last=Max("changed_at")).values())
    with _lock:
        if _corpus is None or _corpus.stamp != stamp:
            rows = list(visible_papers().order_by("pk").values_list("pk", "title", "abstract"))
            _corpus = _Corpus(
                ids=[pk for pk, _, _ in rows],
                titles={pk: title for pk, title, _ in rows},
                lexical=LexicalIndex.build([f"{t}\n{a}" for _, t, a in rows]),
                stamp=stamp,
            )
        return _corpus


def title_holds(title: str, query: str) -> bool:
    """Whether the title holds the query's words in order, as whole words: "RAG" is not in
    "Leveraging averages"."""
    wanted, words = tokens(query, query=True), tokens(title, query=True)
    size = len(wanted)
    return bool(size) and any(words[i : i + size] == wanted for i in range(len(words) - size + 1))


@dataclass(frozen=True)
class SearchHit:
    paper: Paper
    score: float
    title_match: bool


def _semantic_scores(
    query: str, allowed: set[str] | None, *, k: int
) -> tuple[dict[str, float], np.ndarray | None]:
    """The k best cosines by id, and the query vector (None without any paper vector)."""
    index = paper_index()
    if not len(index):
        return {}, None
    query_vector = current_embedder().encode([query])[0]
    return dict(index.nearest(query_vector, k=k, allowed=allowed)), query_vector


def _lexical_scores(query: str, allowed: set[str] | None, *, k: int) -> tuple[dict, set[str]]:
    """The k best lexical scores by id, and the ids whose title holds the query."""
    corpus = _lexical_corpus()
    row = corpus.lexical.scores([query]).getrow(0)
    found = {
        corpus.ids[col]: float(value)
        for col, value in zip(row.indices, row.data, strict=True)
        if allowed is None or corpus.ids[col] in allowed
    }
    best = sorted(found, key=lambda pk: -found[pk])[:k]
    in_title = {pk for pk in found if title_holds(corpus.titles[pk], query)}
    return {pk: found[pk] for pk in best} | {pk: found[pk] for pk in in_title}, in_title


def _cosines(query_vector: np.ndarray | None, ids: set[str]) -> dict[str, float]:
    """The query's cosine to papers found by their words only."""
    if query_vector is None:
        return {}
    wanted = sorted(ids)
    vectors, found = paper_index().vectors(wanted)
    return dict(zip(compress(wanted, found), (vectors @ query_vector).tolist(), strict=True))


def search_papers(
    *, query: str, among: QuerySet[Paper] | None = None, limit: int = 50
) -> list[SearchHit]:
    """The best `limit` matches for `query` among the papers of `among` (the API's and the
    pages' PaperFilter narrows them; None: every visible paper), best first."""
    query = " ".join(query.split())[:MAX_QUERY_LENGTH]
    if not query:
        return []
    allowed = None if among is None else set(among.values_list("pk", flat=True))
    semantic, query_vector = _semantic_scores(query, allowed, k=OVERSAMPLE * limit)
    lexical, title_matches = _lexical_scores(query, allowed, k=OVERSAMPLE * limit)
    cosines = _cosines(query_vector, lexical.keys() - semantic.keys()) | semantic
    hidden = set(Paper.objects.filter(hidden=True).values_list("pk", flat=True))
    ranked = {
        pk: cosines.get(pk, 0.0)
        + LEXICAL_WEIGHT * lexical.get(pk, 0.0)
        + (EXACT_TITLE_BONUS if pk in title_matches else 0.0)
        for pk in (semantic.keys() | lexical.keys()) - hidden
    }
    best = sorted(ranked, key=lambda pk: (-ranked[pk], pk))[:limit]
    loaded = with_cards(Paper.objects.filter(pk__in=best)).in_bulk()
    return [
        SearchHit(paper=loaded[pk], score=ranked[pk], title_match=pk in title_matches)
        for pk in best
        if pk in loaded
    ]


def related_papers(*, paper: Paper, limit: int = 5) -> list[Paper]:
    index = paper_index()
    vector = index.vector(paper.pk)
    if vector is None:
        return []
    hidden = set(Paper.objects.filter(hidden=True).values_list("pk", flat=True))
    hits = index.nearest(vector, k=limit, exclude=hidden | {paper.pk})
    loaded = with_cards(Paper.objects.filter(pk__in=[pk for pk, _ in hits])).in_bulk()
    return [loaded[pk] for pk, _ in hits if pk in loaded]
