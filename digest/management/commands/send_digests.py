"""python manage.py send_digests [--date YYYY-MM-DD] [--dry-run [FOLDER]]"""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from digest.management.arguments import iso_date
from digest.services.delivery import MailServerUnavailable, dry_run, send_day


class Command(BaseCommand):
    help = (
        "Send the digest of a date now to every confirmed, active subscriber who has none for "
        "it yet, whatever their delivery hour (the hour governs the scheduled runs)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--date", type=iso_date, help="the digests' date (default: today, UTC)")
        parser.add_argument(
            "--dry-run",
            nargs="?",
            type=Path,
            const=settings.MAIL_DRY_RUN_DIR,
            metavar="FOLDER",
            help=f"write each message to FOLDER (default {settings.MAIL_DRY_RUN_DIR}) as an "
            ".eml file instead of sending it; nothing is recorded",
        )

    def handle(self, *args, **options) -> None:
        day = options["date"] or timezone.localdate()
        if folder := options["dry_run"]:
            try:
                report = dry_run(day=day, folder=folder)
            except OSError as exc:
                raise CommandError(f"cannot write the messages to {folder}: {exc}") from exc
            written = f"{report.sent} message{'' if report.sent == 1 else 's'}"
            self.stdout.write(f"dry run for {day}: {written} written to {folder}; nothing sent")
            return
        try:
            report = send_day(day=day)
        except MailServerUnavailable as exc:
            raise CommandError(f"mail server: {exc}") from exc
        self.stdout.write(f"digests for {day}: {report}")
        if report.retry:
            self.stdout.write("the scheduled runs retry those refused for now")
        if report.failed or report.ambiguous:
            raise CommandError(
                f"{report.failed} failed and {report.ambiguous} need review (see Delivery.error)"
            )
