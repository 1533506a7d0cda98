"""Screenshots for the README: the home page and a digest email, from the recorded data.

    .venv/bin/python scripts/screenshots.py [--out docs]

Builds a throwaway SQLite site from the recordings in DIGEST_REPLAY_DIR (the same replay as
`make run` without network), serves it on loopback and photographs it with the headless
Chromium the browser tests use (CHROMIUM_PATH, default /usr/bin/chromium). Nothing outside
the temporary folder is written but the two PNGs.
"""

import argparse
import os
import sys
import tempfile
import threading
import warnings
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path(os.getenv("CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run"]
# Wide enough for the desktop layout, short enough that a PNG stays well under 300 KB.
VIEWPORT = {"width": 1100, "height": 1250}
READER_INTERESTS = "video generation and diffusion models\nLLM agents and their memory"


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def build_site(folder: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'digest.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "digest.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from digest.services.sources.fetch import replay

    replay(paths=[settings.DIGEST_REPLAY_DIR])  # the cut-off recording keeps its 86 papers
    call_command("embed_papers", verbosity=0)


def digest_html() -> str:
    """A reader's digest of the newest day, as the email's HTML part."""
    from digest.models import Delivery, Subscriber
    from digest.services import delivery
    from digest.services.emails.compose import digest_message
    from digest.services.papers import latest_day

    reader = Subscriber.objects.create(
        email="ada@example.org", status=Subscriber.Status.ACTIVE, interests=READER_INTERESTS
    )
    (planned,) = delivery.plan(day=latest_day(), subscriber_ids=[reader.pk])
    message = digest_message(delivery=Delivery.objects.get(pk=planned))
    return message.alternatives[0][0]


def serve() -> str:
    from django.contrib.staticfiles.handlers import StaticFilesHandler
    from django.core.wsgi import get_wsgi_application

    server = make_server("127.0.0.1", 0, StaticFilesHandler(get_wsgi_application()),
                         handler_class=QuietHandler)  # fmt: skip
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def photograph(*, url: str, email: str, out: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    shots = [out / "screenshot-home.png", out / "screenshot-digest.png"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(url + "/")
        page.screenshot(path=shots[0])
        page.set_content(email, wait_until="load")
        page.screenshot(path=shots[1])
        browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop in this thread
    # Static files come from the apps' folders here; no collectstatic run is needed.
    warnings.filterwarnings("ignore", message="No directory at")
    with tempfile.TemporaryDirectory() as folder:
        build_site(Path(folder))
        email = digest_html()
        for shot in photograph(url=serve(), email=email, out=args.out):
            print(f"{shot}: {shot.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
