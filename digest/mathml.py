"""LaTeX math to MathML that is safe to put in a page. Pure module (no Django).

latex2mathml copies `\\text{...}` and `\\href{...}` into its output as they are, so its markup
is never trusted: it is parsed as XML and written out again keeping only MathML presentation
elements and attributes that carry no URL or script. A formula that does not convert, does
not parse or holds anything else is shown as its Unicode text instead.
"""

import html
import xml.etree.ElementTree as ET

from defusedxml.ElementTree import fromstring
from latex2mathml.converter import convert

NS = "{http://www.w3.org/1998/Math/MathML}"
ELEMENTS = frozenset({
    "math", "mrow", "mi", "mn", "mo", "ms", "mtext", "mspace", "msub", "msup", "msubsup",
    "munder", "mover", "munderover", "mfrac", "msqrt", "mroot", "mstyle", "merror", "mpadded",
    "mphantom", "mfenced", "menclose", "mtable", "mtr", "mtd", "mlabeledtr", "mmultiscripts",
    "mprescripts", "none", "semantics",
})  # fmt: skip
ATTRIBUTES = frozenset({
    "display", "mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "accent",
    "accentunder", "columnalign", "columnspacing", "columnlines", "rowalign", "rowspacing",
    "rowlines", "frame", "width", "height", "depth", "minsize", "maxsize", "movablelimits",
    "symmetric", "linethickness", "scriptlevel", "displaystyle", "form", "largeop", "notation",
    "open", "close", "separators", "voffset", "align",
})  # fmt: skip
# A formula longer than this is not typeset: no real abstract has one, a hostile one would
# cost the page its rendering time.
MAX_SOURCE = 2_000


class UnsafeMath(ValueError):
    """latex2mathml produced something other than plain MathML presentation markup."""


def _copy(element: ET.Element) -> ET.Element:
    tag = element.tag.removeprefix(NS)
    if tag not in ELEMENTS:
        raise UnsafeMath(f"element {tag!r}")
    clean = ET.Element(tag)
    for name, value in element.attrib.items():
        if name not in ATTRIBUTES:
            raise UnsafeMath(f"attribute {name!r}")
        clean.set(name, value)
    clean.text, clean.tail = element.text, element.tail
    clean.extend(_copy(child) for child in element)
    return clean


def to_mathml(source: str, *, fallback: str) -> str:
    """`source` (LaTeX math without delimiters) as an inline <math> element; `fallback`,
    escaped, in a <span class="math"> when it cannot be typeset safely."""
    try:
        if len(source) > MAX_SOURCE:
            raise UnsafeMath("too long")
        tree = _copy(fromstring(convert(source)))
    except Exception:  # latex2mathml raises its own types (and IndexError) on bad input
        return f'<span class="math">{html.escape(fallback)}</span>'
    tree.set("xmlns", NS[1:-1])
    tree.set("display", "inline")
    tree.tail = None
    return ET.tostring(tree, encoding="unicode", short_empty_elements=False)
