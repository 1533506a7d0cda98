"""Fixtures of the fault tests: processes of the test's own (Celery workers and beats, a
private Redis), an SMTP sink that counts what each recipient got and misbehaves on demand,
and thousands of confirmed readers whose interests are already embedded.

Everything listens on loopback and is stopped in a `finally`, whatever the test did to it.
The machine's own PostgreSQL and Redis are never stopped: what a test breaks is its own.
"""

import contextlib
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis

from tests.conftest import ROOT, SmtpSink, free_port, wait_for, worker_command

# Workers, beats and servers get this long to stop cleanly before they are killed.
STOP_SECONDS = 20


@dataclass
class Processes:
    """Child processes started by one test, each with its output in a log file."""

    folder: Path
    started: list[subprocess.Popen] = field(default_factory=list)
    logs: dict[int, Path] = field(default_factory=dict)

    servers: list[subprocess.Popen] = field(default_factory=list)

    def start(
        self, name: str, command: list[str], env: dict[str, str], *, server: bool = False
    ) -> subprocess.Popen:
        """A server (Redis) is stopped after the clients, which would otherwise spend their
        shutdown reconnecting to it."""
        log = self.folder / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        (self.servers if server else self.started).append(process)
        self.logs[process.pid] = log
        return process

    def log(self, process: subprocess.Popen) -> str:
        return self.logs[process.pid].read_text(errors="replace")

    def kill(self, process: subprocess.Popen) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=STOP_SECONDS)

    def stop(self, process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_SECONDS)

    def stop_all(self) -> None:
        for process in [*reversed(self.started), *reversed(self.servers)]:
            self.stop(process)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(folder=tmp_path)
    try:
        yield started
    finally:
        started.stop_all()


# --- A private Redis, to restart -----------------------------------------------------------


@dataclass
class PrivateRedis:
    """A redis-server of the test's own on a spare port. Like a production broker it keeps
    an append-only file (fsync on every write), so a restart keeps what was queued; with
    `persistent` off it keeps nothing, as a Redis run without persistence."""

    processes: Processes
    folder: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None
    persistent: bool = True

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = ["redis-server", "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--dir", str(self.folder), "--save", "", "--protected-mode", "no"]
        if self.persistent:
            command += ["--appendonly", "yes", "--appendfsync", "always"]
        self.process = self.processes.start(
            f"redis-{self.port}", command, dict(os.environ), server=True
        )
        wait_for(self.ping, timeout=30, what=f"the private Redis on port {self.port}")

    def ping(self) -> bool:
        with contextlib.suppress(redis.RedisError):
            return redis.Redis.from_url(self.url, socket_timeout=1).ping()
        return False

    def crash(self) -> None:
        """The server dies at once (SIGKILL); `start` brings it back on the same port and
        files."""
        self.processes.kill(self.process)

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)


@pytest.fixture
def private_redis(request, processes: Processes, tmp_path: Path) -> PrivateRedis:
    """Persistent unless a test parametrizes it (indirect) with False."""
    folder = tmp_path / "redis"
    folder.mkdir()
    persistent = getattr(request, "param", True)
    server = PrivateRedis(processes=processes, folder=folder, persistent=persistent)
    server.start()
    return server


# --- Celery processes of the test's own -----------------------------------------------------


@dataclass
class Celery:
    processes: Processes
    env: dict[str, str]
    folder: Path
    count: int = 0

    def _name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}{self.count}"

    def worker(self, *, broker: str, queues: str = "mail", **env: str) -> subprocess.Popen:
        """One worker process (the solo pool: the process that is killed is the one that
        sends), logging at INFO so a test can see its retries."""
        name = self._name("worker")
        options = ["-n", f"{name}@%h", "-l", "info", "--without-heartbeat"]
        command = worker_command(queues=queues, options=options)
        return self.processes.start(name, command, self._env(broker, env))

    def beat(self, *, broker: str, **env: str) -> subprocess.Popen:
        name = self._name("beat")
        command = [sys.executable, "-m", "celery", "-A", "tasks", "beat", "-l", "info"]
        command += ["-s", str(self.folder / f"{name}-schedule")]
        return self.processes.start(name, command, self._env(broker, env))

    def _env(self, broker: str, env: dict[str, str]) -> dict[str, str]:
        return {**self.env, "CELERY_BROKER_URL": broker, **env}


@pytest.fixture
def celery(processes: Processes, subprocess_env: dict[str, str], sink, tmp_path: Path) -> Celery:
    """Workers and beats on the test database, sending to `sink` (EMAIL_TIMEOUT 2 s)."""
    env = {**subprocess_env, **sink.env(timeout=2), "MAIL_RETRY_BACKOFF_SECONDS": "1"}
    return Celery(processes=processes, env=env, folder=tmp_path)


@pytest.fixture
def shared_broker(redis_url: str) -> Iterator[str]:
    """The tests' Redis database (REDIS_URL), emptied before and after: for tests that
    break something else than the broker."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    try:
        yield redis_url
    finally:
        client.flushdb()


# --- An SMTP sink that counts, refuses, hangs --------------------------------------------------


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    """Started by the test (`sink.start()`), so a test can begin with nobody listening."""
    server = SmtpSink()
    try:
        yield server
    finally:
        server.stop()


# --- Readers --------------------------------------------------------------------------------

INTERESTS = [
    "LLM agents",
    "video diffusion models",
    "reinforcement learning from human feedback",
    "graph neural networks",
    "speech recognition",
]


def midday_zone(now: datetime) -> str:
    """A time zone where it is about noon: a test lasting minutes (or a recovery run half an
    hour "later") never crosses its midnight, so its readers have one local date."""
    offset = 12 - now.astimezone(UTC).hour  # hours east of UTC, -11 .. +12
    if offset == 0:
        return "Etc/GMT"
    # The Etc zones count the other way: Etc/GMT-5 is five hours east of UTC.
    return f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def email(n: int) -> str:
    return f"reader{n:04d}@example.org"


@pytest.fixture
def make_readers(corpus):
    """`make_readers(n)`: n confirmed readers due now (hour 0 of a zone where it is noon),
    with topic vectors already cached, as after their first digest: embedding thousands
    of interest texts on this CPU would take minutes and is not what these tests are about."""
    from django.utils import timezone

    from digest.models import Subscriber
    from digest.services.ranking.digests import topic_vectors

    def make(count: int) -> list[int]:
        zone = midday_zone(timezone.now())
        Subscriber.objects.bulk_create(
            Subscriber(
                email=email(n),
                status=Subscriber.Status.ACTIVE,
                interests=INTERESTS[n % len(INTERESTS)],
                timezone=zone,
                delivery_hour=0,
                digest_size=3,
                # These tests are about delivery: a reader whose interest matches nothing on
                # the recorded day still gets the trending section, so everyone has a digest.
                send_when_empty=True,
                confirmed_at=timezone.now(),
            )
            for n in range(count)
        )
        # One reader per interest text goes through the real cache; the others share it.
        dim = corpus_dim()
        for text in INTERESTS:
            first = Subscriber.objects.filter(interests=text).order_by("pk").first()
            if first is None:
                continue
            topic_vectors([first], dim)
            first.refresh_from_db()
            Subscriber.objects.filter(interests=text).update(
                topic_vectors=first.topic_vectors, interest_model=first.interest_model
            )
        return list(Subscriber.objects.order_by("pk").values_list("pk", flat=True))

    return make


def corpus_dim() -> int:
    from digest.services.embedding.index import paper_index

    return paper_index().dim


# --- Helpers ---------------------------------------------------------------------------------


def states() -> Counter:
    from digest.models import Delivery

    return Counter(Delivery.objects.values_list("state", flat=True))
