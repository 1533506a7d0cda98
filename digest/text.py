"""Readable text from what upstream sends. Pure functions (no Django).

Upstream titles, abstracts and names are LaTeX source. Ingestion decodes them once
(`decode_prose`): accents and escapes outside math become Unicode (`J\\"org` -> "Jörg"), math
stays as `$...$` so that pages can typeset it, and a literal dollar is kept as `\\$`. What
shows the stored text then picks its form: `unicode_text` for emails, feeds and the API (math
as Unicode, `$3.6\\times$` -> "3.6\\u00d7"), `math_segments` for pages (math parts to MathML).
"""

import re
from collections.abc import Iterator
from dataclasses import dataclass

from pylatexenc.latex2text import LatexNodes2Text

# Only text with a backslash or a dollar is LaTeX to us: "50% faster" must stay as it is,
# and pylatexenc would read its "%" as the start of a comment and its "&" as a table column.
LATEX = re.compile(r"[\\$]")
UNESCAPED_SPECIAL = re.compile(r"(?<!\\)([%&])")
_CONVERTER = LatexNodes2Text(math_mode="text", strict_latex_spaces=False)
# Math as arXiv authors write it: $$...$$, $...$, \(...\), \[...\]; `\$` is a dollar sign. A URL
# is kept whole (pylatexenc would turn the "~" of a home directory into a space).
_PIECE = re.compile(
    r"(?P<math>\$\$(?P<display>.+?)\$\$|(?<!\\)\$(?P<inline>[^$]+?)(?<!\\)\$"
    r"|\\\((?P<paren>.+?)\\\)|\\\[(?P<bracket>.+?)\\\])"
    r"|\\href\{(?P<href>[^}]+)\}\{(?:[^{}]|\{[^{}]*\})*\}|\\url\{(?P<wrapped>[^}]+)\}"
    r"|(?P<url>https?://(?:[^\s<>\"{}\\]|\\[_~%&#])+)",
    re.S,
)
# Characters LaTeX makes authors escape in a URL ("github.com/a/b\_c").
_URL_ESCAPE = re.compile(r"\\([_~%&#])")
# A link some authors put in math mode ("$\href{https://x.github.io}{\texttt{...}}$").
_LINK_IN_MATH = re.compile(r"\\(?:href|url)\{(?P<url>https?://[^}]*)\}.*", re.S)
# A sentence ends at . ! ? followed by a space and a capital, digit or quote, not after a
# common abbreviation ("e.g. the", "et al. show").
SENTENCE_END = re.compile(
    r"(?<!\be\.g)(?<!\bi\.e)(?<!\bal)(?<!\bvs)(?<!\bFig)[.!?](?=\s+[A-Z0-9\"'(])"
)


@dataclass(frozen=True)
class Segment:
    """A run of text: prose (`math` False) or the LaTeX source of one formula, delimiters off."""

    text: str
    math: bool = False


def plain_text(text: str) -> str:
    """All of `text` as Unicode: `$3.6\\times$ faster` -> "3.6\u00d7 faster", `J\\"org` ->
    "Jörg"; text without LaTeX unchanged."""
    if not LATEX.search(text):
        return text
    try:
        converted = _CONVERTER.latex_to_text(UNESCAPED_SPECIAL.sub(r"\\\1", text))
    except Exception:  # pylatexenc raises several types on malformed input; keep the original
        return text
    if "%s" in converted and "%s" not in text:  # a macro it could not fill in: unreadable
        return text
    return " ".join(converted.split())


def _pieces(text: str) -> Iterator[tuple[str, str]]:
    """(kind, text) runs of `text`: "prose", "math" (source without delimiters) or "url"."""
    position = 0
    for match in _PIECE.finditer(text):
        if match.start() > position:
            yield "prose", text[position : match.start()]
        if url := match["url"] or match["wrapped"] or match["href"]:
            yield "url", _URL_ESCAPE.sub(r"\1", url)
        else:
            group = next(g for g in ("display", "inline", "paren", "bracket") if match[g])
            source = match[group].strip()
            if link := _LINK_IN_MATH.fullmatch(source):
                yield "url", link["url"]
            elif source:
                yield "math", source
            else:  # "$ $": nothing to typeset
                yield "prose", " "
        position = match.end()
    if position < len(text):
        yield "prose", text[position:]


def _decoded(prose: str) -> str:
    """Prose through pylatexenc, keeping its edge spaces (they separate it from the math) and
    escaping the dollars it produced, so they cannot pair up into math later."""
    inner = plain_text(prose.strip())
    if not inner:
        return " " if prose[:1].isspace() or prose[-1:].isspace() else ""
    lead = " " if prose[:1].isspace() else ""
    trail = " " if prose[-1:].isspace() else ""
    return lead + inner.replace("$", r"\$") + trail


def decode_prose(text: str) -> str:
    """Upstream LaTeX as we store it: prose decoded, math kept as `$...$`, `\\$` for "$"."""
    if not LATEX.search(text):
        return " ".join(text.split())
    out = []
    for kind, piece in _pieces(" ".join(text.split())):
        if kind == "math":
            out.append(f"${piece}$")
        elif kind == "url":
            out.append(piece)
        else:
            out.append(_decoded(piece))
    return "".join(out).strip()


def math_segments(stored: str) -> list[Segment]:
    """Stored text (see `decode_prose`) as prose and math segments, dollars unescaped."""
    if "$" not in stored:
        return [Segment(stored)] if stored else []
    segments: list[Segment] = []
    for kind, piece in _pieces(stored):
        if kind == "math":
            segments.append(Segment(piece, math=True))
        elif segments and not segments[-1].math:
            segments[-1] = Segment(segments[-1].text + piece.replace(r"\$", "$"))
        else:
            segments.append(Segment(piece.replace(r"\$", "$")))
    return segments


def math_as_text(source: str) -> str:
    """One formula's LaTeX source as Unicode ("3.6\\times" -> "3.6\\u00d7"); the source itself,
    without its dollars, when pylatexenc cannot read it."""
    text = plain_text(f"${source}$")
    return source if text == f"${source}$" else text


def unicode_text(stored: str) -> str:
    """Stored text with its math as Unicode: for emails, feeds and the API's plain fields."""
    return "".join(
        math_as_text(segment.text) if segment.math else segment.text
        for segment in math_segments(stored)
    )


def first_sentence(text: str, *, limit: int = 300) -> str:
    """The first sentence of an abstract, cut at `limit` characters at most."""
    text = " ".join(text.split())
    end = SENTENCE_END.search(text)
    sentence = text[: end.end()] if end else text
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
    return sentence
