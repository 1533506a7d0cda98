"""Shared fixtures: recorded upstream data, a loopback upstream server, service checks."""

import asyncio
import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings

ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data"
ARXIV_PAGES = sorted((DATA_DIR / "arxiv").glob("cs_query_start*.xml"))
ARXIV_RECORDED_JSON = DATA_DIR / "arxiv" / "query_testing_m100.recorded.json"
ARXIV_RSS_TRUNCATED = DATA_DIR / "arxiv-rss" / "cs.AI_2025-08-20.truncated.xml"
HF_DAILY = DATA_DIR / "huggingface" / "daily_papers_2026-06-12.json"


def pytest_sessionstart(session: pytest.Session) -> None:
    if not DATA_DIR.is_dir():
        pytest.exit(f"recorded data missing: {DATA_DIR} (the shared/ folder beside the repo)", 1)
    if not settings.configured:  # pure tests run with `-p no:django`
        return
    database = settings.DATABASES["default"]
    if "postgresql" in database["ENGINE"]:
        require_service("PostgreSQL", database.get("HOST") or "127.0.0.1", database.get("PORT"))


def require_service(name: str, host: str, port: int | str | None) -> None:
    """Fail loudly, naming the service, instead of letting a test skip or hang."""
    try:
        with socket.create_connection((host, int(port or 0)), timeout=3):
            return
    except OSError as exc:
        pytest.exit(f"{name} is not reachable at {host}:{port} ({exc}); start it first", 1)


@pytest.fixture(autouse=True)
def _own_vector_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each test maps a vector index of its own, checked on every use: the database is
    rolled back between tests, an index file would not be."""
    if not settings.configured:
        yield
        return
    saved = settings.DIGEST_INDEX_DIR, settings.DIGEST_INDEX_CHECK_MS
    settings.DIGEST_INDEX_DIR = tmp_path_factory.mktemp("index")
    settings.DIGEST_INDEX_CHECK_MS = 0
    yield
    settings.DIGEST_INDEX_DIR, settings.DIGEST_INDEX_CHECK_MS = saved


@pytest.fixture
def redis_url() -> str:
    url = os.getenv("REDIS_URL", "redis://127.0.0.1:6379/15")
    parts = urlsplit(url)
    require_service("Redis", parts.hostname, parts.port or 6379)
    return url


Response = tuple[int, dict[str, str], bytes]


@dataclass
class Upstream:
    """A real HTTP server on loopback that answers like arXiv / Hugging Face / GitHub would,
    from recorded responses. `routes` maps a path to a function of the query parameters."""

    url: str
    routes: dict[str, Callable[[dict[str, list[str]]], Response]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    state = Upstream(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            state.requests.append(self.path)
            route = state.routes.get(parts.path)
            status, headers, body = (
                route(parse_qs(parts.query)) if route else (404, {}, b"not found")
            )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            # The client may have given up first (a timeout test): nothing left to tell it.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def arxiv_pages_route(params: dict[str, list[str]]) -> Response:
    """The three recorded export-API pages, served by their `start` parameter; a lookup by
    `id_list` gets the recorded entries of those ids."""
    if "id_list" in params:
        return 200, {"Content-Type": "application/atom+xml"}, _recorded_entries(params)
    start = int(params.get("start", ["0"])[0])
    page = DATA_DIR / "arxiv" / f"cs_query_start{start}.xml"
    if not page.exists():
        return 200, {"Content-Type": "application/atom+xml"}, _empty_feed()
    return 200, {"Content-Type": "application/atom+xml"}, page.read_bytes()


def _recorded_entries(params: dict[str, list[str]]) -> bytes:
    wanted = set(params["id_list"][0].split(","))
    start, size = int(params.get("start", ["0"])[0]), int(params.get("max_results", ["10"])[0])
    entries = [
        b"<entry>" + entry
        for page in ARXIV_PAGES
        for entry in page.read_bytes().split(b"</feed>")[0].split(b"<entry>")[1:]
        if re.search(rb"<id>http://arxiv.org/abs/(.+?)v\d+</id>", entry)[1].decode() in wanted
    ]
    # As arXiv answers a lookup: the count is of the ids it found.
    head = re.sub(
        rb"<opensearch:totalResults>\d+<",
        b"<opensearch:totalResults>%d<" % len(entries),
        _empty_feed(),
    )
    return head.replace(b"</feed>", b"".join(entries[start : start + size]) + b"</feed>")


def _empty_feed() -> bytes:
    # What arXiv answers past the last result: the feed header with no entry.
    head = ARXIV_PAGES[0].read_bytes().split(b"<entry>")[0]
    return head + b"</feed>\n"


@pytest.fixture
def arxiv_upstream(upstream: Upstream, settings) -> Upstream:
    upstream.routes["/api/query"] = arxiv_pages_route
    settings.ARXIV_API_URL = f"{upstream.url}/api/query"
    settings.ARXIV_PAGE_SIZE = 100
    settings.ARXIV_MAX_RESULTS = 300
    return upstream


@pytest.fixture
def hf_upstream(upstream: Upstream, settings) -> Upstream:
    upstream.routes["/api/daily_papers"] = lambda params: (
        200,
        {"Content-Type": "application/json"},
        HF_DAILY.read_bytes(),
    )
    settings.HF_API_URL = upstream.url
    return upstream


def hf_paper_route(paper_id: str) -> Callable[[dict[str, list[str]]], Response]:
    """Hugging Face's `/api/papers/{id}` for a recorded paper: the `paper` object of its Daily
    Papers item (the shape that endpoint returns); 404 for any other id."""
    items = {item["paper"]["id"]: item["paper"] for item in json.loads(HF_DAILY.read_bytes())}

    def answer(params: dict[str, list[str]]) -> Response:
        if paper_id not in items:
            return 404, {}, b'{"error": "Paper not found"}'
        return 200, {"Content-Type": "application/json"}, json.dumps(items[paper_id]).encode()

    return answer


@pytest.fixture
def code_check_upstream(arxiv_upstream: Upstream, settings) -> Upstream:
    """arXiv (lookups by id) and Hugging Face's paper pages replayed for the code re-check."""
    settings.HF_API_URL = arxiv_upstream.url
    settings.ARXIV_NUM_RETRIES = 0
    for item in json.loads(HF_DAILY.read_bytes()):
        paper_id = item["paper"]["id"]
        arxiv_upstream.routes[f"/api/papers/{paper_id}"] = hf_paper_route(paper_id)
    return arxiv_upstream


@pytest.fixture
def subprocess_env(transactional_db) -> dict[str, str]:
    """Environment for a child process (a worker, a command) that uses the test database."""
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] != "django.db.backends.postgresql":
        pytest.fail("tests with child processes need PostgreSQL: set DATABASE_URL")
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "digest.settings"}


def worker_command(*, queues: str, options: list[str]) -> list[str]:
    """A Celery worker in the solo pool: the task runs in the process a test may kill."""
    command = [sys.executable, "-m", "celery", "-A", "tasks", "worker", "-P", "solo"]
    return [*command, "-Q", queues, "--without-gossip", "--without-mingle", *options]


@pytest.fixture
def start_worker(subprocess_env, redis_url):
    """Start real Celery worker processes on Redis; each is stopped after the test."""
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    workers: list[subprocess.Popen] = []

    def start(*, queues: str = "celery", env: dict[str, str] | None = None) -> subprocess.Popen:
        command = worker_command(queues=queues, options=["-l", "warning"])
        environment = {**subprocess_env, "CELERY_BROKER_URL": redis_url, **(env or {})}
        workers.append(subprocess.Popen(command, cwd=ROOT, env=environment))
        return workers[-1]

    yield start
    for worker in workers:
        worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()


def wait_for(condition: Callable[[], object], *, timeout: float = 60, what: str) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")


# --- Celery tasks on a real broker ---------------------------------------------------------


def publish(broker: str, task, *args: object) -> None:
    """Queue a task on `broker` (the test process's own Celery app has no broker set)."""
    from tasks import app

    with app.connection_for_write(broker) as connection:
        task.apply_async(args=args, connection=connection)


def mail_idle(broker: str, *, unacked: int = 0) -> bool:
    """Nothing waits on the `mail` queue and only `unacked` messages are out with workers
    (tasks ack late; a killed worker's message stays out until the visibility timeout)."""
    import redis

    client = redis.Redis.from_url(broker)
    return client.llen("mail") == 0 and client.hlen("unacked") <= unacked


def wait_until_mail_idle(broker: str, *, unacked: int = 0, timeout: float = 120) -> None:
    # Twice: a message between the queue and a worker's unacked set is in neither for a moment.
    for _ in range(2):
        wait_for(lambda: mail_idle(broker, unacked=unacked), timeout=timeout, what="idle mail")


@pytest.fixture(scope="session")
def corpus_vectors() -> dict[str, "object"]:
    """Vectors of the recorded corpus (HF day + first arXiv page), computed once per session
    with the real embedder: on 2 CPU cores a full abstract costs about 50 ms."""
    from digest.services.embedding.embedder import paper_text
    from digest.services.embedding.papers import current_embedder
    from digest.services.sources.arxiv_feed import parse_api_page
    from digest.services.sources.huggingface import parse_daily_papers

    records = parse_api_page(ARXIV_PAGES[0].read_bytes()).records
    records += [r.paper for r in parse_daily_papers(HF_DAILY.read_bytes()).records]
    texts = [paper_text(title=r.title, abstract=r.abstract) for r in records]
    vectors = current_embedder().encode(texts)
    return {r.arxiv_id: vector for r, vector in zip(records, vectors, strict=True)}


@pytest.fixture
def corpus(db, corpus_vectors, settings):
    """The recorded corpus stored, embedded and scored, as after a real ingestion."""
    from digest.services.sources.fetch import replay

    replay(paths=[ARXIV_PAGES[0], HF_DAILY])
    return embed_and_score(corpus_vectors)


def embed_and_score(corpus_vectors: dict[str, "object"]):
    """The stored corpus papers given their vectors and trending scores, as the embed and
    trending tasks would after an ingestion."""
    from digest.models import Paper, PaperEmbedding
    from digest.services.embedding.vector_store import to_bytes
    from digest.services.trending import recompute_trending

    PaperEmbedding.objects.bulk_create(
        PaperEmbedding(
            paper_id=pk,
            model_name=settings.DIGEST_EMBEDDING_MODEL,
            dim=vector.shape[0],
            vector=to_bytes(vector),
        )
        for pk, vector in corpus_vectors.items()
    )
    recompute_trending()
    return Paper.objects.all()


# --- Mail (issue 4): a real SMTP server on loopback --------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class SmtpSink:
    """A real SMTP server (aiosmtpd) on loopback, for the mail tests and the fault tests.

    It keeps each message it accepted (raw, parsed only when a test reads `messages`, so
    thousands cost little) and, per recipient, the Message-IDs it accepted. It misbehaves on
    demand: `refuse` maps a recipient to the reply its RCPT gets ("450 4.2.1 try later",
    "550 5.1.1 no such user"); a message to a recipient in `drop` is taken and the connection
    closed before the reply; one to a recipient in `hang` is read and never answered."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    raw: list[bytes] = field(default_factory=list)
    senders: list[str] = field(default_factory=list)  # each accepted message's envelope sender
    accepted: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rcpt_attempts: Counter = field(default_factory=Counter)
    refuse: dict[str, str] = field(default_factory=dict)
    drop: set[str] = field(default_factory=set)
    hang: set[str] = field(default_factory=set)
    hung: list[str] = field(default_factory=list)
    connections: int = 0
    controller: object = None

    def start(self) -> None:
        import logging

        from aiosmtpd.controller import Controller

        logging.getLogger("mail.log").setLevel(logging.WARNING)
        self.controller = Controller(_SmtpHandler(self), hostname=self.host, port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    @property
    def messages(self) -> list[EmailMessage]:
        return [message_from_bytes(raw, policy=policy.default) for raw in self.raw]

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def total(self) -> int:
        return sum(len(ids) for ids in self.accepted.values())

    def env(self, *, timeout: int) -> dict[str, str]:
        """The environment that sends a child process's mail here."""
        return {
            "EMAIL_HOST": self.host,
            "EMAIL_PORT": str(self.port),
            "EMAIL_USE_TLS": "false",
            "EMAIL_TIMEOUT": str(timeout),
        }

    def assert_one_each(self, count: int) -> None:
        """`count` recipients got a message, each exactly one."""
        assert len(self.accepted) == count
        assert {len(message_ids) for message_ids in self.accepted.values()} == {1}


class _SmtpHandler:
    def __init__(self, sink: SmtpSink):
        self.sink = sink
        self.headers = BytesHeaderParser(policy=policy.default)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        self.sink.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, options):
        self.sink.rcpt_attempts[address] += 1
        if reply := self.sink.refuse.get(address):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        recipients = set(envelope.rcpt_tos)
        if self.sink.hang & recipients:
            self.sink.hung += envelope.rcpt_tos
            await asyncio.sleep(3600)  # cancelled when the sink stops
        self.sink.raw.append(envelope.content)
        self.sink.senders.append(envelope.mail_from)
        message_id = self.headers.parsebytes(envelope.content)["Message-ID"]
        for address in envelope.rcpt_tos:
            self.sink.accepted[address].append(message_id)
        if self.sink.drop & recipients:
            server.transport.close()
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server(settings) -> Iterator[SmtpSink]:
    """A started SmtpSink, with Django's SMTP backend pointed at it."""
    sink = SmtpSink()
    sink.start()
    settings.EMAIL_BACKEND = "digest.services.emails.backends.SMTPBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = sink.host, sink.port
    settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = False, 10
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture
def mail_env(smtp_server) -> dict[str, str]:
    """Environment that sends a child process's mail to `smtp_server`."""
    return smtp_server.env(timeout=10)


@pytest.fixture
def redis_cache(settings, redis_url):
    """Django's cache on Redis, the shared cache of production. A key prefix of its own per
    test keeps it empty without flushing keys that others keep in the same Redis database."""
    import uuid

    from django.core.cache import cache

    from digest.services.rate_limits import FIRST_ATTEMPTS

    # First attempts that waited in this process belong to an earlier test's keys.
    FIRST_ATTEMPTS.clear()
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": redis_url,
            "KEY_PREFIX": f"test-{uuid.uuid4().hex}",
        },
    }
    return cache


@pytest.fixture
def eager_tasks():
    """Celery tasks run inline where they are queued (the tasks stay the real ones)."""
    from tasks import app

    app.conf.task_always_eager, app.conf.task_eager_propagates = True, True
    yield
    app.conf.task_always_eager, app.conf.task_eager_propagates = False, False


# --- Moderation, the API and feeds (issue 5) ---------------------------------------------


@pytest.fixture
def window_to_spare() -> None:
    """Rate limits count in fixed windows that start on the minute (hourly and daily ones
    too): a test that counts its requests up to a limit starts with at least 10 s of the
    minute left, or its last requests could fall in the next window and be admitted."""
    if (left := 60 - time.time() % 60) < 10:
        time.sleep(left + 0.01)


@pytest.fixture
def empty_cache():
    """The shared cache and this process's (API pages, content version), emptied before and
    after the test: the database is rolled back after each test but the caches are not, so
    cached API pages and rate-limit counters would leak."""
    from django.core.cache import cache, caches

    for each in caches.all():
        each.clear()
    yield cache
    for each in caches.all():
        each.clear()


@pytest.fixture
def feed_reader(db):
    """A confirmed subscriber with interests, and the token of their personal feed."""
    from digest.models import Subscriber
    from digest.services.personal_feed import revoke_feed_token

    subscriber = Subscriber.objects.create(
        email="reader@example.org",
        status=Subscriber.Status.ACTIVE,
        interests="video diffusion models\npoint cloud transformers",
        categories=["cs.CV"],
    )
    # Their first token, as the button on the preference page makes it.
    return subscriber, revoke_feed_token(subscriber_id=subscriber.pk)
