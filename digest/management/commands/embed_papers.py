"""python manage.py embed_papers: embed every paper that has no vector for the current model."""

import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from digest.services.embedding.papers import embed_missing_papers, papers_without_vector
from digest.services.trending import recompute_trending


class Command(BaseCommand):
    help = "Embed title + abstract of papers without a vector for DIGEST_EMBEDDING_MODEL."

    def handle(self, *args, **options) -> None:
        from django.conf import settings

        todo = papers_without_vector(settings.DIGEST_EMBEDDING_MODEL).count()
        with tqdm(total=todo, unit=" papers", disable=not sys.stderr.isatty()) as bar:
            summary = embed_missing_papers(progress=bar.update)
        self.stdout.write(
            f"{summary.embedded} papers embedded with {summary.model_name} on {summary.device} "
            f"in {summary.seconds:.1f}s ({summary.papers_per_second:.0f} papers/s)"
        )
        self.stdout.write(f"{recompute_trending()} trending scores recomputed")
