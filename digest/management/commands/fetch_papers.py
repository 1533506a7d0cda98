"""python manage.py fetch_papers [--source arxiv|hf|all] [--since YYYY-MM-DD] [--replay PATH ...]"""

import sys
from datetime import date
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from digest.management.arguments import iso_date
from digest.services.sources.fetch import (
    RunReport,
    fetch_arxiv,
    fetch_huggingface,
    replay,
    upstream_reachable,
)
from digest.services.sources.ingest import Counts
from digest.services.sources.recorded import damaged_on_purpose
from digest.services.sources.records import SourceError


class Command(BaseCommand):
    help = "Fetch papers from arXiv and Hugging Face, or replay recorded responses."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", choices=["arxiv", "hf", "all"], default="all")
        parser.add_argument(
            "--since", type=iso_date, help="arXiv: stop at older submissions; HF: the day to read"
        )
        parser.add_argument(
            "--replay",
            nargs="+",
            type=Path,
            metavar="PATH",
            help="recorded responses (files or folders) to feed through the same parsers",
        )
        parser.add_argument(
            "--offline-fallback",
            action="store_true",
            help="when upstream is unreachable, say so and replay DIGEST_REPLAY_DIR instead",
        )

    def handle(self, *args, **options) -> None:
        self.demonstration = False
        with tqdm(unit=" papers", disable=not sys.stderr.isatty(), leave=False) as bar:
            reports = self._run(options, progress=bar.update)
        problems = []
        for report in reports:
            line = f"{report.source} ({report.origin}): {report.counts}"
            if report.problem and self._expected(report):
                line += f"; damaged on purpose, to show bad input handled: {report.problem}"
            elif report.problem:
                problems.append(report)
            self.stdout.write(line)
        for report in problems:
            self.stderr.write(f"error: {report.source}: {report.problem}")
        if problems:
            raise CommandError(f"{len(problems)} of {len(reports)} sources had problems")

    def _expected(self, report: RunReport) -> bool:
        """The bundled demonstration's damaged recording, replayed by the offline fallback."""
        return self.demonstration and damaged_on_purpose(Path(report.origin))

    def _run(self, options: dict, *, progress) -> list[RunReport]:
        if options["replay"]:
            return self._replay(options["replay"], progress)
        if options["offline_fallback"] and not upstream_reachable(settings.ARXIV_API_URL):
            self.stdout.write(
                f"No network: {settings.ARXIV_API_URL} is unreachable; "
                f"replaying recorded responses from {settings.DIGEST_REPLAY_DIR}"
            )
            self.demonstration = True
            return self._replay([settings.DIGEST_REPLAY_DIR], progress)
        reports = []
        for source, fetch in (("arxiv", fetch_arxiv), ("hf", fetch_huggingface)):
            if options["source"] in (source, "all"):
                reports.append(self._fetch(source, fetch, options["since"], progress))
        return reports

    def _replay(self, paths: list[Path], progress) -> list[RunReport]:
        try:
            return replay(paths=paths, progress=progress)
        except SourceError as exc:
            raise CommandError(str(exc)) from exc

    @staticmethod
    def _fetch(source: str, fetch, since: date | None, progress) -> RunReport:
        kwargs = {"since": since} if source == "arxiv" else {"day": since}
        try:
            return fetch(progress=progress, **kwargs)
        except SourceError as exc:
            return RunReport(source=exc.source, origin="", counts=Counts(), problem=exc.problem)
