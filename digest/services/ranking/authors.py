"""Author names as a reader types them and as arXiv lists them, brought to one key."""

import unicodedata

from digest.text import plain_text


def author_key(name: str) -> str:
    """Case, accents, LaTeX accents (J\\"org), dots and spacing do not matter: "Jörg Müller",
    "J\\"org M\\"uller" and "jorg  muller" are one author."""
    folded = unicodedata.normalize("NFKD", plain_text(name).casefold())
    letters = "".join(ch for ch in folded if not unicodedata.combining(ch))
    return " ".join(letters.replace(".", " ").split())
