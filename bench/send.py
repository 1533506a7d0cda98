"""Digest sending throughput: our path against a bare `smtplib` loop and against the old path
(the straightforward rendering), to the same local SMTP sink (aiosmtpd in its own process), in
the same run. Prints figures; asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/send.py --subscribers 10000 --workers 2

Our path is the production one: the planned deliveries go out in chunks of MAIL_CHUNK_SIZE as
`tasks.mail.send_digest_chunk` tasks on the `mail` queue, sent by real Celery workers
(`--workers` processes, Redis broker at BENCH_REDIS_URL): claim, compose with inlined CSS,
send over a reused SMTP connection, record. It is timed from the first task queued to the last
delivery recorded as sent. The old path is the same with every digest composed the
straightforward way (bench/straightforward_mail.py: every template and block rendered by
Django for each reader, Django's MIME classes), by as many workers of its own on their own
queue. The bare loop sends pre-rendered digests of the same sizes over one connection. Ours and
the old path take turns about every SEGMENT digests (a whole number of chunks per worker, so
that no worker idles while another sends a segment's last chunk), each after the bare loop
sends as many; each ratio compares the same digests. Then a whole day is planned for every
reader afresh and its digests queued at once, as `send_due_digests` fans a day out, for our
warm workers: the time to send the whole day, beside the bare loop sending as many of the same
digests just before.
Then the CPU time of composing and flattening one digest both ways, in this process.

It works in a database of its own (`digest_bench_send`, created on DATABASE_URL's server and
dropped at the end; its broker's Redis database is emptied too) holding the recorded corpus
(../shared/data), embedded and scored as after a real ingestion. Planning (every reader ranked
in one batch, deliveries recorded) is timed apart: it is not sending.
"""

import argparse
import contextlib
import multiprocessing
import os
import smtplib
import subprocess
import sys
import time
from datetime import date, timedelta

from bench import _common as common

TOPICS = [
    "video generation, diffusion models",
    "LLM agents, tool use",
    "reinforcement learning from human feedback",
    "speech recognition",
    "retrieval augmented generation",
    "robot manipulation",
    "efficient attention, long context",
    "3D reconstruction, gaussian splatting",
]
SAMPLE = 500  # distinct pre-rendered digests the bare loop cycles through
DATABASE = "digest_bench_send"
SEGMENT = 1000  # digests per alternation between ours and the bare loop


def sink(port: int, ready, stop, received) -> None:
    """A local SMTP sink that accepts and counts every message."""
    from aiosmtpd.controller import Controller

    class Count:
        async def handle_DATA(self, server, session, envelope):
            with received.get_lock():
                received.value += 1
            return "250 OK"

    controller = Controller(Count(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


def mail_env(port: int) -> dict[str, str]:
    return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(port), "EMAIL_USE_TLS": "false"}


def setup_django(port: int) -> None:
    """This process works on the bench's own database, recreated and migrated."""
    environment = common.server_environment(database=DATABASE, **mail_env(port))
    common.prepare(environment, database=DATABASE)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def load_corpus(day: date) -> None:
    from digest.services.embedding.papers import embed_missing_papers
    from digest.services.sources.fetch import replay
    from digest.services.trending import recompute_trending

    pages = sorted((common.RECORDED / "arxiv").glob("cs_query_start*.xml"))
    replay(paths=[*pages, common.RECORDED / "huggingface" / f"daily_papers_{day}.json"])
    embed_missing_papers()
    recompute_trending()


def make_subscribers(n: int) -> list[int]:
    from digest.models import Subscriber

    Subscriber.objects.bulk_create(
        Subscriber(
            email=f"reader{i}@example.org",
            status=Subscriber.Status.ACTIVE,
            interests=TOPICS[i % len(TOPICS)],
            # A send benchmark: every reader gets a digest, the trending section at least.
            send_when_empty=True,
        )
        for i in range(n)
    )
    return list(Subscriber.objects.order_by("pk").values_list("pk", flat=True))


def pre_render(delivery_ids: list[int]) -> list[bytes]:
    from digest.models import Delivery
    from digest.services.emails.compose import digest_message

    sample = Delivery.objects.filter(pk__in=delivery_ids[:SAMPLE]).order_by("pk")
    return [digest_message(delivery=d).message().as_bytes(linesep="\r\n") for d in sample]


def bare_loop(port: int, messages: list[bytes], n: int) -> float:
    """Seconds to send n pre-rendered messages over one connection."""
    client = smtplib.SMTP("127.0.0.1", port, timeout=30)
    started = time.perf_counter()
    for i in range(n):
        client.sendmail("digest@localhost", [f"bare{i}@example.org"], messages[i % len(messages)])
    elapsed = time.perf_counter() - started
    client.quit()
    return elapsed


# Who sends each path: (Celery app, queue).
PATHS = {"ours": ("tasks", "mail"), "old": ("bench.straightforward_mail", "mail-straightforward")}


def start_workers(n: int, broker: str, *, path: str) -> subprocess.Popen:
    """Workers with this process's environment: the bench's database and SMTP sink."""
    app, queue = PATHS[path]
    command = [sys.executable, "-m", "celery", "-A", app, "worker", "-Q", queue]
    command += ["-c", str(n), "--without-gossip", "--without-mingle", "-l", "warning"]
    env = {**os.environ, "CELERY_BROKER_URL": broker}
    # The banner and task log would drown the figures.
    return subprocess.Popen(command, cwd=common.ROOT, env=env, stdout=subprocess.DEVNULL)


def wait_sent(n: int, *, received, at_sink: int, timeout: float = 1800) -> None:
    """Until n deliveries are recorded as sent. The sink's count (shared memory) is watched
    until it reaches `at_sink`, then the database: counting the deliveries costs PostgreSQL
    about 2 ms, and asked every few milliseconds while the workers send it would take a
    share of the cores they send with. A segment takes under two seconds: a coarse poll
    would add its wait to the time measured."""
    from digest.models import Delivery

    deadline = time.monotonic() + timeout
    for done in (
        lambda: received.value >= at_sink,
        lambda: Delivery.objects.filter(state=Delivery.State.SENT).count() >= n,
    ):
        while not done():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {n} digests")
            time.sleep(0.005)


def queue_chunks(broker: str, chunks: list[list[int]], *, path: str) -> None:
    from tasks import app
    from tasks.mail import send_digest_chunk

    queue = PATHS[path][1]
    with app.connection_for_write(broker) as connection:
        for chunk in chunks:
            send_digest_chunk.apply_async(args=[chunk], connection=connection, queue=queue)


def compose_cpu(delivery_ids: list[int]) -> dict[str, float]:
    """CPU ms of composing and flattening one digest, ours and the straightforward way, over
    the same SAMPLE digests, alternating."""
    from digest.models import Delivery
    from digest.services.emails.compose import digest_message

    sample = list(
        Delivery.objects.filter(pk__in=delivery_ids[:SAMPLE])
        .select_related("subscriber")
        .prefetch_related("items__paper__code_links")
    )
    spent = {"ours": 0.0, "old": 0.0}
    for _ in range(2):
        for path in spent:
            started = time.process_time()
            for sent in sample:
                message = digest_message(delivery=sent, compiled=path == "ours")
                message.message().as_bytes(linesep="\r\n")
            spent[path] += time.process_time() - started
    return {path: seconds / (2 * len(sample)) * 1000 for path, seconds in spent.items()}


def compare(args, port: int, delivery_ids: list[int], messages, received) -> dict:
    """Ours, the old path and the bare loop, segment by segment (SEGMENT digests each, ours
    and the old path taking turns, each after the bare loop) so that a machine whose speed
    drifts (shared cores) penalises all alike. A path is timed from a segment's first chunk
    queued to its last digest recorded as sent, after a warm-up chunk per worker that loads
    the workers' code (excluded)."""
    import redis
    from django.conf import settings

    from digest.services.batching import batched

    redis.Redis.from_url(args.broker).delete(*(queue for _app, queue in PATHS.values()))
    batches = list(batched(delivery_ids, settings.MAIL_CHUNK_SIZE))
    warm_up = {
        path: batches[i * args.workers : (i + 1) * args.workers] for i, path in enumerate(PATHS)
    }
    rest = batches[len(PATHS) * args.workers :]
    # Whole rounds of one chunk per worker: production queues the day at once, and a segment
    # whose last round keeps one worker busy would time the others idling.
    rounds = max(1, round(SEGMENT / (settings.MAIL_CHUNK_SIZE * args.workers)))
    per_segment = rounds * args.workers
    times = {path: {"seconds": 0.0, "bare": 0.0, "digests": 0} for path in PATHS}
    for path, chunks in warm_up.items():
        send_timed(args.broker, chunks, received=received, path=path)  # not counted
    for turn, first in enumerate(range(0, len(rest), per_segment)):
        segment = rest[first : first + per_segment]
        size, path = sum(map(len, segment)), list(PATHS)[turn % len(PATHS)]
        times[path]["bare"] += bare_loop(port, messages, size)
        times[path]["seconds"] += send_timed(args.broker, segment, received=received, path=path)
        times[path]["digests"] += size
    return times


def send_timed(broker: str, chunks: list[list[int]], *, received, path: str) -> float:
    """Seconds from the first chunk queued to the last of their digests recorded as sent."""
    from digest.models import Delivery

    size = sum(map(len, chunks))
    already = Delivery.objects.filter(state=Delivery.State.SENT).count()
    at_sink = received.value + size
    started = time.perf_counter()
    queue_chunks(broker, chunks, path=path)
    wait_sent(already + size, received=received, at_sink=at_sink)
    return time.perf_counter() - started


def whole_day(args, port: int, received, *, subscriber_ids: list[int]) -> dict:
    """A day's every digest queued at once, as `send_due_digests` fans them out, and sent by
    our warm workers: the time from the first chunk queued to the last digest recorded, beside
    the bare loop sending as many of the day's own digests just before. The digests so far
    are deleted first: a paper is mailed to a reader once, and on the recorded corpus (no new
    papers) the days after the first would hold fewer papers than a real day's."""
    from django.conf import settings

    from digest.models import Delivery
    from digest.services.batching import batched
    from digest.services.delivery import plan

    Delivery.objects.all().delete()
    delivery_ids = plan(day=args.day + timedelta(days=2), subscriber_ids=subscriber_ids)
    messages = pre_render(delivery_ids)
    chunks = list(batched(delivery_ids, settings.MAIL_CHUNK_SIZE))
    bare = bare_loop(port, messages, len(delivery_ids))
    seconds = send_timed(args.broker, chunks, received=received, path="ours")
    size = sum(map(len, messages)) / len(messages) / 1024
    return {"seconds": seconds, "bare": bare, "digests": len(delivery_ids), "size": size}


@contextlib.contextmanager
def running_workers(args):
    """Both paths' Celery workers, stopped on the way out."""
    workers = [start_workers(args.workers, args.broker, path=path) for path in PATHS]
    try:
        yield
    finally:
        for pool in workers:
            pool.terminate()
        for pool in workers:
            pool.wait(60)


def report(times: dict, *, workers: int, n: int, cpu: dict[str, float]) -> None:
    print(f"{'path':<44}{'messages':>9}{'seconds':>9}{'per second':>12}{'ratio':>7}")
    labels = {"ours": "ours", "old": "old path (straightforward rendering)"}
    for path, measured in times.items():
        digests, rate = measured["digests"], measured["digests"] / measured["seconds"]
        bare = digests / measured["bare"]
        label = f"{labels[path]}, {workers} workers"
        print(f"{label:<44}{digests:>9}{measured['seconds']:>9.1f}{rate:>12.0f}{rate / bare:>7.2f}")
        bare_label = "  bare smtplib loop, same digests"
        print(f"{bare_label:<44}{digests:>9}{measured['bare']:>9.1f}{bare:>12.0f}")
        print(f"  {n} digests sent in {n / rate:.0f}s at this rate")
    print(
        f"CPU per digest composed and flattened, in-process: ours {cpu['ours']:.2f} ms, "
        f"old path {cpu['old']:.2f} ms ({cpu['old'] / cpu['ours']:.1f}x)"
    )


def report_day(day: dict, *, workers: int) -> None:
    rate, bare = day["digests"] / day["seconds"], day["digests"] / day["bare"]
    print(
        f"a whole day, {day['digests']} digests ({day['size']:.1f} KiB on average) queued at "
        f"once, {workers} workers: sent in {day['seconds']:.1f}s ({rate:.0f}/s); the bare loop "
        f"{day['bare']:.1f}s ({bare:.0f}/s); ratio {rate / bare:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 6, 12))
    parser.add_argument("--broker", default=os.getenv("BENCH_REDIS_URL", common.redis_url(12)))
    args = parser.parse_args()

    port = common.free_port()
    spawn = multiprocessing.get_context("spawn")
    ready, stop, received = spawn.Event(), spawn.Event(), spawn.Value("i", 0)
    sink_process = spawn.Process(target=sink, args=(port, ready, stop, received))
    sink_process.start()
    ready.wait(30)
    setup_django(port)
    from django.conf import settings

    from digest.services.delivery import plan

    try:
        started = time.perf_counter()
        load_corpus(args.day)
        subscriber_ids = make_subscribers(args.subscribers)
        print(f"corpus and {len(subscriber_ids)} subscribers: {time.perf_counter() - started:.0f}s")
        started = time.perf_counter()
        delivery_ids = plan(day=args.day, subscriber_ids=subscriber_ids)
        planning = time.perf_counter() - started

        messages = pre_render(delivery_ids)
        cpu = compose_cpu(delivery_ids)
        with running_workers(args):
            times = compare(args, port, delivery_ids, messages, received)
            started = time.perf_counter()
            plan(day=args.day + timedelta(days=1), subscriber_ids=subscriber_ids)
            next_day = time.perf_counter() - started
            day = whole_day(args, port, received, subscriber_ids=subscriber_ids)

        n = len(delivery_ids)
        size = sum(map(len, messages)) / len(messages) / 1024
        print(f"{n} digests, {size:.1f} KiB on average, chunks of {settings.MAIL_CHUNK_SIZE}")
        report(times, workers=args.workers, n=n, cpu=cpu)
        print(
            f"planning {n} digests: {planning:.0f}s the first day, "
            f"{next_day:.0f}s the next (interest vectors cached)"
        )
        report_day(day, workers=args.workers)
        timed = sum(path["digests"] for path in times.values())
        expected = n + timed + 2 * day["digests"]
        print(f"the sink received {received.value} messages ({expected} expected)")
    finally:
        common.clean_up(None, database=DATABASE, redis=args.broker)
        stop.set()
        sink_process.join(30)


if __name__ == "__main__":
    main()
