"""Tests for digest.codelinks on recorded arXiv / Hugging Face responses (../shared/data).

Pure tests: no database, no network. Paper texts come from the recorded files, keyed by
arXiv id; hand-written strings appear only for cases that the recordings do not contain.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from defusedxml import ElementTree
from hypothesis import given
from hypothesis import strategies as st

from digest.codelinks import RepoRef, extract_code_urls, parse_repo_url

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV = "{http://arxiv.org/schemas/atom}"

needs_data = pytest.mark.skipif(not DATA.is_dir(), reason=f"recorded data not found at {DATA}")


def _canonical(url: str) -> str | None:
    """The canonical URL of the repository `url` names, if any."""
    ref = parse_repo_url(url)
    return ref.url if ref is not None else None


def _entries(root) -> dict[str, tuple[str, str]]:
    """(summary, comment) per entry of an Atom feed, keyed by versioned arXiv id."""
    texts = {}
    for entry in root.iter(f"{ATOM}entry"):
        # API ids look like http://arxiv.org/abs/2512.13689v1, RSS ids like oai:arXiv.org:…
        arxiv_id = entry.findtext(f"{ATOM}id").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        texts[arxiv_id] = (
            entry.findtext(f"{ATOM}summary") or "",
            entry.findtext(f"{ARXIV}comment") or "",
        )
    return texts


@cache
def arxiv_texts() -> dict[str, tuple[str, str]]:
    """Every recorded arXiv entry: the three API pages, the JSON-wrapped one, the RSS feed."""
    texts: dict[str, tuple[str, str]] = {}
    for page in sorted((DATA / "arxiv").glob("cs_query_start*.xml")):
        texts |= _entries(ElementTree.parse(page).getroot())
    recorded = json.loads((DATA / "arxiv" / "query_testing_m100.recorded.json").read_text())
    texts |= _entries(ElementTree.fromstring(recorded["body"].encode("latin-1")))
    # The RSS file is cut off inside entry 87: keep the complete entries and close the feed.
    rss = (DATA / "arxiv-rss" / "cs.AI_2025-08-20.truncated.xml").read_text(encoding="utf-8")
    rss = rss[: rss.rindex("</entry>") + len("</entry>")] + "</feed>"
    texts |= _entries(ElementTree.fromstring(rss))
    return texts


@cache
def hf_papers() -> dict[str, dict]:
    items = json.loads((DATA / "huggingface" / "daily_papers_2026-06-12.json").read_text())
    return {item["paper"]["id"]: item["paper"] for item in items}


def summary(arxiv_id: str) -> str:
    return arxiv_texts()[arxiv_id][0]


def comment(arxiv_id: str) -> str:
    return arxiv_texts()[arxiv_id][1]


# --- recorded arXiv texts -------------------------------------------------------------


@needs_data
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # "...available at: https://github.com/prs-eth/LitePT." (sentence-final period)
        pytest.param(
            lambda: summary("2512.13689v1"), ["https://github.com/prs-eth/LitePT"], id="period"
        ),
        # "...publicly available at https://github.com/rwth-i6/2025-denoising-lm/." (slash + .)
        pytest.param(
            lambda: summary("2512.13576v1"),
            ["https://github.com/rwth-i6/2025-denoising-lm"],
            id="slash-period",
        ),
        # Multi-line abstract; "...online at https://github.com/KKGanguly/NEO ." (spaced period)
        pytest.param(
            lambda: summary("2512.13524v1"), ["https://github.com/KKGanguly/NEO"], id="newlines"
        ),
        # "Code is available on github.com/alibaba-damo-academy/T2I-Distill." (no scheme)
        pytest.param(
            lambda: summary("2512.13006v1"),
            ["https://github.com/alibaba-damo-academy/T2I-Distill"],
            id="no-scheme",
        ),
        # Two repositories in one abstract, in order of appearance.
        pytest.param(
            lambda: summary("2512.13330v1"),
            [
                "https://github.com/LumiOpen/lm-evaluation-harness",
                "https://github.com/TurkuNLP/FIN-bench-v2",
            ],
            id="two-repos",
        ),
        # Project pages only: none of them is a repository.
        pytest.param(lambda: comment("2512.13689v1"), [], id="project-page"),
        # "$\href{https://neu-vi.github.io/LASER/}{\texttt{https://neu-vi.github.io/LASER/}}$"
        pytest.param(lambda: summary("2512.13680v1"), [], id="latex-href-project-page"),
        # "Project page: \url{https://visual-ai.github.io/jova}"
        pytest.param(lambda: comment("2512.13677v1"), [], id="latex-url-project-page"),
        # "https://shi-qingyu.github.io/rectok.github.io." (github.io twice, still a page)
        pytest.param(lambda: summary("2512.13421v1"), [], id="github-io-path"),
        # A Hugging Face collection is not a code repository.
        pytest.param(lambda: comment("2512.13607v1"), [], id="huggingface-collection"),
        # RSS feed: "...at https://anonymous.4open.science/r/AMVM-5F3E/" (trailing slash)
        pytest.param(
            lambda: summary("2508.13437v1"),
            ["https://anonymous.4open.science/r/AMVM-5F3E"],
            id="anonymous-4open",
        ),
        # Older feed (JSON-wrapped recording), URL alone in the comment.
        pytest.param(
            lambda: comment("1706.00679v3"),
            ["https://github.com/ydecastro/super-resolution-testing"],
            id="older-feed",
        ),
    ],
)
def test_recorded_arxiv_texts(text, expected):
    assert extract_code_urls(text()) == expected


@needs_data
def test_url_repeated_in_summary_and_comment_counts_once():
    # Summary ends "...https://github.com/MiniMax-AI/VTP." and the comment repeats it bare.
    text = summary("2512.13687v1") + "\n" + comment("2512.13687v1")
    assert extract_code_urls(text) == ["https://github.com/MiniMax-AI/VTP"]


@needs_data
def test_brace_typo_and_project_page_in_one_paper():
    # The comment has "https://github.com/video-reality-test/video-reality-tes}, page is at
    # https://video-reality-test.github.io/": the "}" goes, the author's typo stays (it is
    # what the paper says), and the project page does not count.
    text = summary("2512.13281v1") + "\n" + comment("2512.13281v1")
    assert extract_code_urls(text) == [
        "https://github.com/video-reality-test/video-reality-test",
        "https://github.com/video-reality-test/video-reality-tes",
    ]


@needs_data
def test_every_recorded_entry_naming_a_github_path_gives_a_link_and_no_other_does():
    texts = arxiv_texts()
    assert len(texts) == 486  # 300 API + 100 JSON-wrapped + 86 complete RSS entries
    with_links = set()
    for arxiv_id, (abstract, note) in texts.items():
        text = abstract + "\n" + note
        urls = extract_code_urls(text)
        assert bool(urls) == ("github.com/" in text or "4open.science/r/" in text), arxiv_id
        assert all(".github.io" not in url for url in urls), arxiv_id
        if urls:
            with_links.add(arxiv_id)
    assert len(with_links) == 42


# --- recorded Hugging Face daily papers -------------------------------------------------


@needs_data
def test_huggingface_github_repos_are_already_canonical():
    repos = [p["githubRepo"] for p in hf_papers().values() if p.get("githubRepo")]
    assert len(repos) == 16
    for repo in repos:
        ref = parse_repo_url(repo)
        assert ref is not None and ref.host == "github.com", repo
        assert _canonical(repo) == repo == ref.url


@needs_data
def test_huggingface_project_pages_are_not_repositories():
    # github.io pages and huggingface.co spaces / datasets / collections.
    pages = [p["projectPage"] for p in hf_papers().values() if p.get("projectPage")]
    assert any("huggingface.co/spaces/" in page for page in pages)
    assert any("huggingface.co/datasets/" in page for page in pages)
    assert all(_canonical(page) is None for page in pages)
    assert all(extract_code_urls(page) == [] for page in pages)


@needs_data
def test_huggingface_summary_order_and_github_repo_agree():
    # "...https://github.com/YujunZhou/TRACE_exp, ... https://github.com/YujunZhou/tellonce."
    paper = hf_papers()["2606.13174"]
    urls = extract_code_urls(paper["summary"])
    assert urls == [
        "https://github.com/YujunZhou/TRACE_exp",
        "https://github.com/YujunZhou/tellonce",
    ]
    assert _canonical(paper["githubRepo"]) in urls


# --- hand-written edge cases absent from the recordings ---------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/o/r.git", "https://github.com/o/r"),
        ("https://github.com/o/r/tree/master/src/model.py", "https://github.com/o/r"),
        ("http://www.GitHub.com/Owner/Repo/blob/main/README.md#usage", "https://github.com/Owner/Repo"),
        ("github.com/o/r?tab=readme", "https://github.com/o/r"),
        ("<https://github.com/o/r.git>.", "https://github.com/o/r"),
        ("https://gitlab.com/group/sub/repo/-/tree/main", "https://gitlab.com/group/sub/repo"),
        ("https://bitbucket.org/team/repo/src/master/", "https://bitbucket.org/team/repo"),
        ("https://codeberg.org/o/r/issues", "https://codeberg.org/o/r"),
        ("https://anonymous.4open.science/r/x-1A2B/src/a.py", "https://anonymous.4open.science/r/x-1A2B"),
        ("https://gist.github.com/o/0123abcd", None),
        ("https://github.com/o", None),
        ("https://github.com/orgs/o/repositories", None),
        ("https://github.com/features/copilot", None),
        ("https://o.github.io/r", None),
        ("https://huggingface.co/o/r", None),
        ("https://example.com/github.com/o/r", None),
        ("", None),
    ],
)  # fmt: skip
def test__canonical(url, expected):
    assert _canonical(url) == expected


def test_latex_wrappers_and_escaped_underscore():
    text = r"Code: \url{https://github.com/o/my\_repo}; see \href{https://github.com/o/b}{here}."
    assert extract_code_urls(text) == ["https://github.com/o/my_repo", "https://github.com/o/b"]


def test_dedup_is_case_insensitive_and_keeps_first_spelling():
    text = "(github.com/Foo/Bar) and https://github.com/foo/bar.git"
    assert extract_code_urls(text) == ["https://github.com/Foo/Bar"]


def test_parse_repo_url_fields():
    assert parse_repo_url("https://gitlab.com/group/sub/repo.git") == RepoRef(
        "https://gitlab.com/group/sub/repo", "gitlab.com", "group/sub", "repo"
    )
    assert parse_repo_url("anonymous.4open.science/r/x-1A2B/") == RepoRef(
        "https://anonymous.4open.science/r/x-1A2B", "anonymous.4open.science", "", "x-1A2B"
    )


def test_huge_input_is_handled():
    text = "github.com/" * 50_000 + "https://github.com/o/r " + "a" * 1_000_000
    assert extract_code_urls(text) == ["https://github.com/o/r"]


# --- properties -------------------------------------------------------------------------

# Pieces of repository URLs, so that generated texts often contain near-miss candidates.
_PIECES = st.sampled_from(
    [
        "https://", "http://", "www.", "github.com", "GitHub.com", "gitlab.com", "gist.",
        "anonymous.4open.science", "bitbucket.org", "codeberg.org", "/", "/r/", "/-/", "o",
        "R", "-", "_", ".", ".git", "tree", "orgs", "\\url{", "\\_", "}", ")", ">", "?q", "#",
        " ", "\n", "é", "\x00",
    ]
)  # fmt: skip
_TEXTS = st.one_of(
    st.text(),
    st.binary().map(lambda raw: raw.decode("latin-1")),
    st.lists(st.one_of(_PIECES, st.text(max_size=3)), max_size=40).map("".join),
)


@given(_TEXTS)
def test_extract_returns_canonical_unique_urls(text):
    urls = extract_code_urls(text)
    assert isinstance(urls, list)
    assert all(isinstance(url, str) for url in urls)
    assert all(_canonical(url) == url for url in urls)
    assert len({url.lower() for url in urls}) == len(urls)


@given(_TEXTS)
def test_canonical_repo_url_is_idempotent(text):
    url = _canonical(text)
    assert url is None or _canonical(url) == url
    ref = parse_repo_url(text)
    assert (ref.url if ref else None) == url
