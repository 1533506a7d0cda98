"""Exact words: BM25 over title + abstract, for the digest's interests and for search.

Research interests are full of names that a sentence embedding blurs ("STL-10", "LoRA",
"KAN", an author's method): a paper that names the thing must be found, and one that merely
shares letters with it ("average" for "RAG") must not. Matching is on whole tokens; a
hyphenated or dotted compound ("STL-10", "multi-agent") is also one token with its joints
removed, so "STL-10" and "STL10" meet, while documents keep the parts too ("multi agent"
queries still find "multi-agent").

Scores are BM25 (bm25s builds the sparse term x document matrix) divided by what a document
holding every query term once, at average length, would score, then saturated (1 - e^-x):
0.63 reads "names everything the interest names", more occurrences approach 1. A query of
common words only is divided by at least `MIN_IDEAL`, so "learning" alone is worth little
where "STL-10" alone is worth a lot; and a document naming only part of a query scores in
proportion to the idf it names ("group testing" is not "testing").

Pure module (no Django): callers pass texts and get arrays.
"""

import logging
import re
from dataclasses import dataclass
from functools import cache, cached_property

import bm25s
import numpy as np
import scipy.sparse as sp
from bm25s.stopwords import STOPWORDS_EN

# bm25s sets its own logger to DEBUG when imported, after the settings' LOGGING has run, and
# logs every index it builds: back to the level of the rest.
logging.getLogger("bm25s").setLevel(logging.WARNING)

K1, B = 1.2, 0.75
# About the idf of a term in one document of fifty: a query must be that specific to count.
MIN_IDEAL = 4.0
WORD = re.compile(r"[^\W_]+(?:[-.'/][^\W_]+)*")
JOINTS = re.compile(r"[-.'/]")
STOPWORDS = frozenset(STOPWORDS_EN) | {"via", "using", "based", "towards", "toward"}


def _stem(word: str) -> str:
    """A plural 's' off, the same on both sides ("LoRAs", "KANs", "transformers"), without a
    stemmer's guesses about English that names do not follow."""
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


@cache
def _normal(word: str) -> str | None:
    word = _stem(word)
    return None if word in STOPWORDS or (len(word) < 2 and not word.isdigit()) else word


def tokens(text: str, *, query: bool = False) -> list[str]:
    """Lower-cased whole-word tokens. A compound yields its joined form and, for documents,
    its parts: a query for "STL-10" then asks for exactly that name."""
    found = []
    for match in WORD.finditer(text.lower()):
        word = match.group()
        parts = JOINTS.split(word)
        if len(parts) > 1:
            found.append(_normal("".join(parts)))
            if not query:
                found.extend(_normal(part) for part in parts)
        else:
            found.append(_normal(word))
    return [token for token in found if token]


# "Low-Rank Adaptation (LoRA)": a short form in parentheses, two or more capitals.
SHORT_FORM = re.compile(r"\(\s*([A-Za-z][A-Za-z0-9]{1,9}?)s?\s*\)")
PLAIN_WORD = re.compile(r"[^\W_]+")
LONG_FORM_WINDOW = 120


def _long_form(text: str, short: str) -> str | None:
    """The words before "(short)" whose initials spell the short form's capitals, skipping
    stop words inside ("Mixture of Experts (MoE)"), lower-cased; None when they do not."""
    capitals = [c.lower() for c in short if c.isupper()]
    if len(capitals) < 2:
        return None
    words = PLAIN_WORD.findall(text[-LONG_FORM_WINDOW:])
    chosen, initials = [], []
    for word in reversed(words):
        chosen.append(word.lower())
        if word.lower() not in STOPWORDS:
            initials.append(word[0].lower())
        if len(initials) == len(capitals):
            break
    if initials[::-1] != capitals:
        return None
    return " ".join(reversed(chosen))


def abbreviations(texts: list[str]) -> dict[str, str]:
    """Short forms the documents define, as tokens, with their long forms: the corpus's own
    glossary (Schwartz and Hearst's idea, simplified)."""
    found: dict[str, str] = {}
    for text in texts:
        for match in SHORT_FORM.finditer(text):
            long_form = _long_form(text[: match.start()], match.group(1))
            token = _normal(match.group(1).lower())
            if long_form and token:
                found.setdefault(token, long_form)
    return found


def abbreviations_named(texts: list[str]) -> list[list[str]]:
    """Per document, the short forms whose long form it spells out without naming them:
    a paper on "low-rank adaptation" is found by "LoRA" too."""
    glossary = abbreviations(texts)
    spelled = [" " + " ".join(PLAIN_WORD.findall(text.lower())) + " " for text in texts]
    by_word: dict[str, set[int]] = {}
    for row, words in enumerate(spelled):
        for word in set(words.split()):
            by_word.setdefault(word, set()).add(row)
    extra: list[list[str]] = [[] for _ in texts]
    for token, long_form in glossary.items():
        words = long_form.split()
        rows = set.intersection(*(by_word.get(word, set()) for word in words))
        for row in rows:
            if f" {long_form} " in spelled[row]:
                extra[row].append(token)
    return extra


@dataclass(frozen=True)
class LexicalIndex:
    """BM25 weights of a fixed list of documents: (vocabulary x documents), CSR."""

    vocabulary: dict[str, int]
    weights: sp.csr_matrix  # (V, P) float32
    idf: np.ndarray  # (V,)
    documents: int

    @cached_property
    def present(self) -> sp.csr_matrix:
        """(V, P) 1 where the document holds the term."""
        present = self.weights.copy()
        present.data = np.ones_like(present.data)
        return present

    @classmethod
    def build(cls, texts: list[str]) -> "LexicalIndex":
        if not texts:  # bm25s cannot index nothing
            empty = sp.csr_matrix((0, 0), dtype=np.float32)
            return cls(vocabulary={}, weights=empty, idf=np.zeros(0, np.float32), documents=0)
        corpus = [tokens(text) for text in texts]
        for document, extra in zip(corpus, abbreviations_named(texts), strict=True):
            document += extra
        corpus = [document or [""] for document in corpus]
        retriever = bm25s.BM25(k1=K1, b=B)
        retriever.index(corpus, show_progress=False)
        scores = retriever.scores
        vocabulary = retriever.vocab_dict
        # bm25s keeps (documents x vocabulary) in CSC form: the same arrays read as CSR are
        # its transpose, which is what a query product wants.
        weights = sp.csr_matrix(
            (scores["data"], scores["indices"], scores["indptr"]),
            shape=(len(scores["indptr"]) - 1, len(texts)),
        )
        frequency = np.diff(scores["indptr"])
        return cls(
            vocabulary=vocabulary,
            weights=weights,
            idf=_idf(frequency, len(texts)),
            documents=len(texts),
        )

    def scores(self, queries: list[str]) -> sp.csr_matrix:
        """(Q, P) scores in [0, 1), sparse: documents that share no token with a query are
        absent from its row."""
        rows, cols, ideal = [], [], np.zeros(len(queries), dtype=np.float32)
        unseen = float(_idf(np.zeros(1), self.documents)[0])
        for row, query in enumerate(queries):
            words = set(tokens(query, query=True))
            known = [self.vocabulary[word] for word in words if word in self.vocabulary]
            rows += [row] * len(known)
            cols += known
            ideal[row] = float(self.idf[known].sum()) + unseen * (len(words) - len(known))
        picks = sp.csr_matrix(
            (np.ones(len(rows), dtype=np.float32), (rows, cols)),
            shape=(len(queries), self.weights.shape[0]),
        )
        raw = (picks @ self.weights).tocsr()
        # bm25s scores a term once in a document of average length idf / (1 + k1).
        scale = sp.diags(((1.0 + K1) / np.maximum(ideal, MIN_IDEAL)).astype(np.float32))
        normalised = (scale @ raw).tocsr()
        # Saturating, not clipped: naming the terms twice as often still counts a little more.
        normalised.data = -np.expm1(-normalised.data)
        # Times the share of the query's idf that the document names (Lucene's old "coord"):
        # "group testing" is not found in a paper that only says "testing", however often.
        matched = (picks @ sp.diags(self.idf) @ self.present).tocsr()
        share = sp.diags((1.0 / np.maximum(ideal, 1e-6)).astype(np.float32)) @ matched
        return normalised.multiply(share.minimum(1.0)).tocsr()


def _idf(frequency: np.ndarray, documents: int) -> np.ndarray:
    """Lucene's BM25 idf, bm25s's default: what a term is worth at document frequency n."""
    return np.log1p((documents - frequency + 0.5) / (frequency + 0.5)).astype(np.float32)
