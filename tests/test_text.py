"""LaTeX from upstream made readable: decoded once (accents, escapes), math typeset as MathML
on pages or written as Unicode elsewhere; GitHub Pages found in text; the star chart."""

from datetime import UTC, datetime, timedelta

import pytest

from digest.charts import star_history_svg
from digest.codelinks import project_page_url
from digest.mathml import to_mathml
from digest.text import decode_prose, math_segments, plain_text, unicode_text

# Strings as they appear in the recordings under ../shared/data.
RECORDED = {
    "accents": (r"J\"org Deigm\"oller", "Jörg Deigmöller"),
    "caron": (r"Igor Jovan\v{c}evi\'c", "Igor Jovančević"),
    "sharp s": (r"Hendrik Kra{\ss}", "Hendrik Kraß"),
}


@pytest.mark.parametrize(("raw", "decoded"), RECORDED.values(), ids=RECORDED.keys())
def test_names_are_decoded(raw, decoded):
    assert plain_text(raw) == decoded


def test_math_is_kept_for_the_page_and_written_as_unicode_elsewhere():
    stored = decode_prose(r"runs $2\times$ faster with $3.6\times$ fewer parameters")
    assert stored == r"runs $2\times$ faster with $3.6\times$ fewer parameters"
    assert unicode_text(stored) == "runs 2\u00d7 faster with 3.6\u00d7 fewer parameters"
    assert [s.text for s in math_segments(stored) if s.math] == [r"2\times", r"3.6\times"]


def test_prose_escapes_are_decoded_around_the_math():
    stored = decode_prose(r"Fig.~3 shows M\"uller's $x_i$ at 50\% on R\&D")
    assert stored == "Fig. 3 shows Müller's $x_i$ at 50% on R&D"


def test_a_literal_dollar_never_pairs_up_into_math():
    stored = decode_prose(r"it costs \$5 or \$10 a run")
    assert not any(segment.math for segment in math_segments(stored))
    assert unicode_text(stored) == "it costs $5 or $10 a run"


def test_urls_survive_decoding():
    stored = decode_prose(
        r"Code: \url{https://github.com/a/b\_c}; site \href{https://x.github.io/p/}{here};"
        r" home https://host.org/~me/ and $\href{https://y.github.io/}{\texttt{y}}$"
    )
    assert stored == (
        "Code: https://github.com/a/b_c; site https://x.github.io/p/; home https://host.org/~me/"
        " and https://y.github.io/"
    )


def test_text_without_latex_is_unchanged():
    assert decode_prose("50% faster & smaller") == "50% faster & smaller"


def test_mathml_is_produced_for_real_formulas():
    html = to_mathml(r"\mathcal{O}(n^2)", fallback="O(n^2)")
    assert html.startswith('<math display="inline" xmlns="http://www.w3.org/1998/Math/MathML">')
    assert "<msup>" in html


@pytest.mark.parametrize(
    "source",
    [r"\text{<script>alert(1)</script>}", r"\href{javascript:alert(1)}{x}", r"\frac{", "x" * 3000],
)
def test_unsafe_or_broken_math_falls_back_to_escaped_text(source):
    html = to_mathml(source, fallback="<b>fallback</b>")
    assert html == '<span class="math">&lt;b&gt;fallback&lt;/b&gt;</span>'


def test_project_pages_on_github_pages_are_found():
    text = "Project website: https://neu-vi.github.io/LASER/. Code: https://github.com/a/b"
    assert project_page_url(text) == "https://neu-vi.github.io/LASER/"
    assert project_page_url("mail me at x@me.github.io") is None
    assert project_page_url("https://github.com/a/b") is None


def test_star_chart_draws_one_point_per_snapshot():
    start = datetime(2026, 6, 1, tzinfo=UTC)
    svg = star_history_svg([(start + timedelta(days=d), 10 + d * d) for d in range(4)])
    assert svg.startswith("<svg") and svg.count("<circle") == 4
    assert "10 stars on 1 Jun 2026 to 19 on 4 Jun 2026" in svg
    assert star_history_svg([]) == ""
