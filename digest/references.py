"""arXiv ids in what readers paste or upload: ids, abs/PDF URLs, DOIs and BibTeX entries.
Pure functions (no Django)."""

import re

import bibtexparser

# New-style ids (2512.13690, v2 optional) not inside a longer number ("arXiv.2512.13690" of
# a DOI is fine), and old-style ones
# (hep-th/9901001, math.GT/0309136).
NEW_STYLE = re.compile(r"(?<!\d)(?<!\d\.)(\d{4}\.\d{4,5})(?:v\d+)?(?!\d)")
OLD_STYLE = re.compile(r"\b([a-z][a-z-]*(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?\b")
# Entry fields where BibTeX exporters (arXiv, Google Scholar, Zotero, DBLP) put the id.
BIBTEX_FIELDS = (
    "eprint",
    "arxivid",
    "url",
    "doi",
    "journal",
    "note",
    "howpublished",
    "archiveprefix",
)
MAX_BIBTEX_BYTES = 2_000_000


class ReferenceError(ValueError):
    """Input we cannot read; the message is shown to the reader as it is."""


def arxiv_ids_in(text: str) -> list[str]:
    """Every arXiv id in `text`, without versions, first occurrence first."""
    found = [(m.start(), m.group(1)) for m in NEW_STYLE.finditer(text)]
    found += [(m.start(), m.group(1)) for m in OLD_STYLE.finditer(text)]
    return list(dict.fromkeys(arxiv_id for _, arxiv_id in sorted(found)))


def arxiv_ids_in_bibtex(content: bytes) -> list[str]:
    """The arXiv ids of a BibTeX file's entries (entries without one are skipped)."""
    if len(content) > MAX_BIBTEX_BYTES:
        raise ReferenceError(f"The BibTeX file is over {MAX_BIBTEX_BYTES // 1_000_000} MB.")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReferenceError("The BibTeX file is not UTF-8 text.") from exc
    library = bibtexparser.parse_string(text)
    if not library.entries:
        raise ReferenceError("No BibTeX entry found in the file.")
    ids = []
    for entry in library.entries:
        values = [str(field.value) for field in entry.fields if field.key.lower() in BIBTEX_FIELDS]
        ids += arxiv_ids_in(" ".join(values))
    return list(dict.fromkeys(ids))
