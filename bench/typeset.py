"""Typesetting cost: every recorded abstract through the pages' `with_math` (LaTeX math to
allow-listed MathML) against plain HTML escaping of the same stored text, in the same run.
Prints figures; asserts nothing.

    DJANGO_SETTINGS_MODULE=digest.settings PYTHONPATH=. .venv/bin/python bench/typeset.py
"""

import statistics
import time
from collections.abc import Callable
from pathlib import Path

import django

django.setup()

from django.utils.html import escape  # noqa: E402

from digest.services.sources.recorded import parse_recorded, recorded_files  # noqa: E402
from digest.services.sources.records import SourceError  # noqa: E402
from digest.templatetags.digest_tags import with_math  # noqa: E402
from digest.text import decode_prose  # noqa: E402

RECORDED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
REPEATS = 5


def abstracts() -> list[str]:
    """The recorded abstracts as ingestion stores them (decoded, math still LaTeX)."""
    texts = []
    for path in recorded_files([RECORDED]):
        try:
            page = parse_recorded(path.read_bytes())
        except SourceError:
            continue
        texts += [decode_prose(getattr(r, "paper", r).abstract) for r in page.records]
    return texts


def best_ms(render: Callable[[str], object], texts: list[str]) -> tuple[float, float]:
    runs = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        for text in texts:
            render(text)
        runs.append((time.perf_counter() - start) * 1e3)
    return min(runs), statistics.median(runs)


def main() -> None:
    texts = abstracts()
    with_dollars = sum("$" in text for text in texts)
    base, base_median = best_ms(escape, texts)
    typeset, typeset_median = best_ms(with_math, texts)
    print(f"{len(texts)} abstracts ({with_dollars} with math), best of {REPEATS} runs")
    print(f"escape:    {base:8.1f} ms (median {base_median:.1f})")
    each = typeset / len(texts)
    print(f"with_math: {typeset:8.1f} ms (median {typeset_median:.1f}), {each:.3f} ms each")
    print(f"ratio: {typeset / base:.1f}x escaping alone")


if __name__ == "__main__":
    main()
