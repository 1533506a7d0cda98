"""Property tests: whatever text or bytes upstream sends, the parsers give records or their own
SourceError, every record fits the columns it is stored in, and each normalisation is
idempotent. Complements the byte-level properties in tests/services/test_source_parsers.py and
tests/test_codelinks.py with structured documents."""

import json
import unicodedata
from html.parser import HTMLParser
from xml.sax.saxutils import escape

from hypothesis import given, settings
from hypothesis import strategies as st

from digest.codelinks import extract_code_urls
from digest.mathml import ATTRIBUTES, ELEMENTS
from digest.services.emails.compose import SUBJECT_LIMIT, digest_subject, one_line
from digest.services.sources.arxiv_feed import clean_text, parse_api_page, split_arxiv_id
from digest.services.sources.huggingface import parse_daily_papers
from digest.services.sources.recorded import parse_recorded
from digest.services.sources.records import (
    MAX_COUNT,
    MAX_LENGTHS,
    HFRecord,
    PaperRecord,
    ParsedPage,
    SourceError,
)
from digest.templatetags.digest_tags import with_math
from digest.text import decode_prose, unicode_text
from tests.conftest import ARXIV_PAGES, HF_DAILY

# Texts rich in what breaks naive code: line and paragraph separators, control characters,
# markup, entities, surrogate-free astral characters.
TEXTS = st.one_of(
    st.text(),
    st.text(
        alphabet=st.sampled_from(
            " \t\r\n\x0b\x0c\x1c\x85\u2028\u2029\x00<>&;\"'aZ9\u00e9\U0001d518"
        )
    ),
)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXTS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
HF_FIELDS = ["id", "title", "summary", "publishedAt", "submittedOnDailyAt", "authors",
             "upvotes", "githubRepo", "githubStars"]  # fmt: skip


def parsed_or_refused(parse, content: bytes) -> ParsedPage | None:
    try:
        return parse(content)
    except SourceError:
        return None


def is_one_line(text: str) -> bool:
    """No line break, no control character, no whitespace but single spaces: nothing that could
    end a header or start a new one."""
    breaking = {"Cc", "Zl", "Zp"}
    return not any(
        unicodedata.category(ch) in breaking or (ch.isspace() and ch != " ") for ch in text
    )


def assert_fits(record: PaperRecord) -> None:
    for name, limit in MAX_LENGTHS.items():
        assert isinstance(getattr(record, name), str)
        assert len(getattr(record, name)) <= limit
    assert 0 < record.version <= MAX_COUNT


# --- normalisation is idempotent --------------------------------------------------------


@given(TEXTS)
def test_clean_text_is_idempotent_and_leaves_one_line(text):
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned
    assert cleaned == cleaned.strip() and "  " not in cleaned
    assert not any(ch.isspace() and ch != " " for ch in cleaned)


@given(TEXTS, st.integers(min_value=2, max_value=200))
def test_one_line_is_idempotent_unbroken_and_bounded(text, limit):
    line = one_line(text, limit=limit)
    assert one_line(line, limit=limit) == line
    assert is_one_line(line) and len(line) <= limit


@given(st.lists(TEXTS, min_size=1, max_size=30), st.dates())
def test_a_digest_subject_is_one_bounded_header_line(titles, day):
    subject = digest_subject(day=day, titles=titles)
    assert is_one_line(subject)  # a title cannot add a header
    assert len(subject) <= SUBJECT_LIMIT


ARXIV_IDS = st.lists(
    st.sampled_from(["2512.13690", "hep-th/9901001", "math.AG/0601001", "v", "V", "1", "0",
                     "/", ".", "-", "a", "arXiv:", "http://arxiv.org/abs/", " ", "\n"]),
    max_size=8,
).map("".join)  # fmt: skip


@given(st.one_of(TEXTS, ARXIV_IDS))
def test_arxiv_id_splitting_is_idempotent(raw):
    try:
        arxiv_id, version = split_arxiv_id(raw)
    except ValueError:
        return
    assert split_arxiv_id(f"{arxiv_id}v{version}") == (arxiv_id, version)
    assert split_arxiv_id(arxiv_id) == (arxiv_id, 1)


@given(TEXTS)
def test_extracting_code_links_from_extracted_links_changes_nothing(text):
    urls = extract_code_urls(text)
    assert extract_code_urls(" ".join(urls)) == urls


# --- any document gives records that fit, or the parser's own error ---------------------


@settings(max_examples=200, deadline=None)
@given(TEXTS)
def test_any_text_gives_a_page_or_a_source_error(text):
    for parse in (parse_recorded, parse_api_page, parse_daily_papers):
        page = parsed_or_refused(parse, text.encode())
        assert page is None or isinstance(page.records, list)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(HF_FIELDS), JSON), min_size=1, max_size=3))
def test_any_daily_papers_json_gives_fitting_records_or_a_source_error(papers):
    content = json.dumps([{"paper": paper, "numComments": paper.get("upvotes")}
                          for paper in papers]).encode()  # fmt: skip
    page = parsed_or_refused(parse_daily_papers, content)
    for record in page.records if page else []:
        assert isinstance(record, HFRecord)
        assert_fits(record.paper)
        assert 0 <= record.upvotes <= MAX_COUNT and 0 <= record.num_comments <= MAX_COUNT


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.sampled_from(list(json.loads(HF_DAILY.read_bytes())[0]["paper"])), max_size=3),
    JSON,
)
def test_a_recorded_daily_item_with_any_field_replaced_never_crashes(names, value):
    items = json.loads(HF_DAILY.read_bytes())[:2]
    for name in names:
        items[0]["paper"][name] = value
    page = parsed_or_refused(parse_daily_papers, json.dumps(items).encode())
    assert page is not None  # the second item is intact
    for record in page.records:
        assert_fits(record.paper)


FIRST_ENTRY = ARXIV_PAGES[0].read_bytes().decode()
# Where a value starts in the recorded entry: element texts and attribute values.
ENTRY_FIELDS = ["<id>", "<title>", "<updated>", "<summary>", '<category term="', "<published>",
                "<arxiv:comment>", '<arxiv:primary_category term="', "<name>"]  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ENTRY_FIELDS), TEXTS, st.booleans())
def test_an_atom_entry_with_any_text_in_any_field_gives_fitting_records_or_an_error(
    field, text, escaped
):
    # Escaped, the text is part of the field's value; raw, it may also break the document.
    start = FIRST_ENTRY.index(field, FIRST_ENTRY.index("<entry>")) + len(field)
    inserted = escape(text, {'"': "&quot;"}) if escaped else text
    document = (FIRST_ENTRY[:start] + inserted + FIRST_ENTRY[start:]).encode()
    page = parsed_or_refused(parse_api_page, document)
    for record in page.records if page else []:
        assert_fits(record)


# --- LaTeX math to MathML: only allow-listed markup, whatever the source -----------------

LATEX_TEXTS = st.lists(
    st.sampled_from(list("$\\{}<>&\"'^_ ax1=/:")) | st.sampled_from(
        [r"\text{", r"\href{", r"\mathrm{", r"\frac", "javascript:", "<script>", "</math>",
         r"\url{", r"\(", r"\)", "$$", r"\$", r"\"o", "onerror=", "<img src=x "]
    ),
    max_size=30,
).map("".join)  # fmt: skip


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


@settings(max_examples=300, deadline=None)
@given(LATEX_TEXTS)
def test_typeset_text_holds_only_allow_listed_mathml(text):
    parser = _Tags()
    parser.feed(str(with_math(decode_prose(text))))
    for tag, attrs in parser.tags:
        if tag == "span":
            assert attrs == {"class": "math"}
        else:
            assert tag in ELEMENTS
            assert set(attrs) <= ATTRIBUTES | {"xmlns"}


@given(LATEX_TEXTS)
def test_any_latex_decodes_to_one_line_and_reads_as_unicode(text):
    stored = decode_prose(text)
    assert is_one_line(stored) and is_one_line(unicode_text(stored))
