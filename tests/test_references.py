"""arXiv ids in what readers paste and in BibTeX files (pure, no Django)."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from digest.references import ReferenceError, arxiv_ids_in, arxiv_ids_in_bibtex
from tests.conftest import ARXIV_PAGES


def test_ids_links_and_versions_in_any_order_and_separator():
    text = (
        "https://arxiv.org/abs/2512.13690v1, arXiv:2512.13689\n"
        "https://arxiv.org/pdf/2512.13410v2.pdf; hep-th/9901001v3 and 2512.13690 again"
    )
    assert arxiv_ids_in(text) == ["2512.13690", "2512.13689", "2512.13410", "hep-th/9901001"]


def test_numbers_that_are_not_ids_are_left_alone():
    assert arxiv_ids_in("version 1.2.3, 12345.6789, DOI 10.1145/3394486 and 2512.136901") == []


@given(st.text(max_size=300))
def test_any_text_gives_well_formed_ids(text):
    for arxiv_id in arxiv_ids_in(text):
        assert re.fullmatch(r"\d{4}\.\d{4,5}|[a-z][a-z-]*(\.[A-Z]{2})?/\d{7}", arxiv_id)


def _recorded_entries(count: int) -> list[tuple[str, str]]:
    """(id, title) of the first entries of the first recorded arXiv page."""
    page = ARXIV_PAGES[0].read_text()
    ids = re.findall(r"<id>http://arxiv.org/abs/(.+?)v\d+</id>", page)[:count]
    titles = re.findall(r"<entry>\s*<id>.*?</id>\s*<title>(.*?)</title>", page, re.S)[:count]
    return list(zip(ids, (" ".join(t.split()) for t in titles), strict=True))


def test_a_bibtex_file_from_the_usual_exporters(tmp_path):
    # Entries written as arXiv, Google Scholar and Zotero export them, for recorded papers.
    (first, title1), (second, title2), (third, title3) = _recorded_entries(3)
    bibtex = f"""
@misc{{hong2025,
  title={{{title1}}}, author={{Hong, Susung}}, year={{2025}},
  eprint={{{first}}}, archivePrefix={{arXiv}}, primaryClass={{cs.CV}},
  url={{https://arxiv.org/abs/{first}}}
}}
@article{{scholar,
  title={{{title2}}}, journal={{arXiv preprint arXiv:{second}}}, year={{2025}}
}}
@article{{zotero, title={{{title3}}}, doi={{10.48550/arXiv.{third}}}}}
@book{{knuth, title={{The Art of Computer Programming}}, year={{1968}}}}
"""
    assert arxiv_ids_in_bibtex(bibtex.encode()) == [first, second, third]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe not utf-8", "not UTF-8"),
        (b"just some words", "No BibTeX entry"),
        (b"@misc{x," + b"a" * 2_000_001 + b"}", "over 2 MB"),
    ],
)
def test_unreadable_bibtex_is_refused_with_a_reason(content, message):
    with pytest.raises(ReferenceError, match=message):
        arxiv_ids_in_bibtex(content)
