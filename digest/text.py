"""Plain text from what upstream sends: LaTeX in titles, abstracts and names made readable,
and the first sentence of an abstract. Pure functions (no Django)."""

import re

from pylatexenc.latex2text import LatexNodes2Text

# Only text with a backslash or a dollar is LaTeX to us: "50% faster" must stay as it is,
# and pylatexenc would read its "%" as the start of a comment.
LATEX = re.compile(r"[\\$]")
UNESCAPED_PERCENT = re.compile(r"(?<!\\)%")
_CONVERTER = LatexNodes2Text(math_mode="text", strict_latex_spaces=False)
# A sentence ends at . ! ? followed by a space and a capital, digit or quote, not after a
# common abbreviation ("e.g. the", "et al. show").
SENTENCE_END = re.compile(
    r"(?<!\be\.g)(?<!\bi\.e)(?<!\bal)(?<!\bvs)(?<!\bFig)[.!?](?=\s+[A-Z0-9\"'(])"
)


def plain_text(text: str) -> str:
    """`$3.6\\times$ faster` -> "3.6\u00d7 faster", `J\\"org` -> "Jörg"; other text unchanged."""
    if not LATEX.search(text):
        return text
    try:
        converted = _CONVERTER.latex_to_text(UNESCAPED_PERCENT.sub(r"\\%", text))
    except Exception:  # pylatexenc raises several types on malformed input; keep the original
        return text
    if "%s" in converted and "%s" not in text:  # a macro it could not fill in: unreadable
        return text
    return " ".join(converted.split())


def first_sentence(text: str, *, limit: int = 300) -> str:
    """The first sentence of an abstract, cut at `limit` characters at most."""
    text = " ".join(text.split())
    end = SENTENCE_END.search(text)
    sentence = text[: end.end()] if end else text
    if len(sentence) > limit:
        sentence = sentence[: limit - 1].rsplit(" ", 1)[0] + "…"
    return sentence
