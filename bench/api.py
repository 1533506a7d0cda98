"""GET /api/papers/ served from the cache, against a bare Django view that returns the same
bytes: requests/s and p50/p99 latency under gunicorn with wrk. Both are served by the same
gunicorn, the same Django settings and middleware, in the same run, in alternating rounds.
A second gunicorn, the same but with API_LOCAL_PAGES=0, serves the path before each process
kept its own copy of hot pages (every hit reads its page from the shared cache), in the same
rounds. Then the SQL queries of uncached pages of 5, 25 and 100 papers. Prints; never asserts.

    apt-get install -y wrk        # the load generator (Debian's package)
    PYTHONPATH=. .venv/bin/python bench/api.py [--duration 5] [--rounds 6] [--workers 2] \
        [--cache locmem] [--redis redis://127.0.0.1:6379/14]

Needs PostgreSQL (DATABASE_URL, as `make test`), and Redis (REDIS_URL) with `--cache redis`.
Creates the database `digest_bench_api` (the recorded ../shared/data replayed, trending
scores computed) and drops it at the end; with Redis, its database (`--redis`, default 14) is
flushed before and after.
Only 127.0.0.1 is ever sent a request.
"""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from urllib.request import urlopen

from bench import _common as common

BENCH_DATABASE = "digest_bench_api"
PORT, SHARED_ONLY_PORT = 8766, 8767
OURS, BARE = "/api/papers/", "/bench/bare/"
# What each row of the figures requests: (port, path, a new client address per request).
TARGETS = {
    f"ours {OURS}": (PORT, OURS, False),
    f"ours, new clients {OURS}": (PORT, OURS, True),
    f"shared cache only {OURS}": (SHARED_ONLY_PORT, OURS, False),
    f"bare, new clients {BARE}": (PORT, BARE, True),
    f"bare {BARE}": (PORT, BARE, False),
}
# wrk's request hook: each request from another client address (X-Forwarded-For, read behind
# one trusted proxy), so each is its client's first in the throttle's window and is counted
# in Redis: the one round trip a cached hit costs for clients that are not busy.
NEW_CLIENTS = """
counter = 0
request = function()
  counter = counter + 1
  local address = string.format("10.%d.%d.%d", math.floor(counter / 65536) % 256,
                                math.floor(counter / 256) % 256, counter % 256)
  return wrk.format(nil, nil, {["X-Forwarded-For"] = address})
end
"""

# --- What gunicorn serves: the real app, plus the bare view --------------------------------

_handler = None


def _bare(request):
    """The bytes our API answered, read once from the file the bench wrote, and nothing else."""
    from django.http import HttpResponse

    if not hasattr(_bare, "body"):
        _bare.body = Path(os.environ["BENCH_API_BODY"]).read_bytes()
    return HttpResponse(_bare.body, content_type="application/json")


def application(environ, start_response):
    """WSGI entry point (`bench.api:application`): digest's own application with one more URL."""
    global _handler
    if _handler is None:
        from django.core.wsgi import get_wsgi_application
        from django.urls import clear_url_caches, path

        _handler = get_wsgi_application()
        import digest.urls

        digest.urls.urlpatterns.append(path(BARE.strip("/") + "/", _bare))
        clear_url_caches()
    return _handler(environ, start_response)


# --- The run -------------------------------------------------------------------------------


def bench_environment(*, cache: str | None, body: Path) -> dict[str, str]:
    """`cache`: the Redis URL, or None for the quick start's locmem."""
    return common.server_environment(
        database=BENCH_DATABASE,
        CACHE_URL=cache or "locmem://",
        # Static files come from the app folders here, without a collectstatic folder.
        PYTHONWARNINGS="ignore:No directory at",
        # Most traffic comes from one address: the limiter still runs on every request (its
        # cost is part of ours), but never refuses one.
        API_THROTTLE_RATE=f"{10**9}/second",
        CLIENT_IP_HEADER="HTTP_X_FORWARDED_FOR",
        TRUSTED_PROXY_COUNT="1",
        BENCH_API_BODY=str(body),
    )


def fill_database() -> None:
    from digest.services.trending import recompute_trending

    common.replay_recorded()
    recompute_trending()


def uncached_queries(sizes: list[int]) -> dict[int, int]:
    """SQL queries of one uncached list page per page size, through the whole request."""
    from django.core.cache import cache
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client, counts = Client(HTTP_HOST="127.0.0.1"), {}
    for size in sizes:
        cache.clear()
        with CaptureQueriesContext(connection) as queries:
            response = client.get(OURS, {"page_size": size})
        assert response.status_code == 200, response.content
        counts[size] = len(queries)
    cache.clear()
    return counts


def serve(*, workers: int, port: int, environment: dict[str, str]) -> subprocess.Popen:
    # Sync workers, one thread each, as the figures in bench/README.md were measured: wrk keeps
    # its connections busy, so the worker type does not move the ratio.
    return common.start_gunicorn(
        "bench.api:application",
        port=port,
        options=["-w", str(workers), "-k", "sync", "--threads", "1"],
        environment=environment,
        ready=lambda: fetch(OURS, port=port),
    )


def fetch(path: str, *, port: int = PORT) -> bytes:
    with urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
        return response.read()


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[unit]


def wrk(url: str, *, duration: int, connections: int, script: Path | None) -> dict[str, float]:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency", url]
    command += ["-s", str(script)] if script else []
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output)[1]),
        "p50": _ms(re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)[1]),
        "p99": _ms(re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)[1]),
        "errors": int(errors[1]) if errors else 0,
    }


def report(results: dict[str, list[dict]], queries: dict[int, int]) -> None:
    print(f"\n{'view':<40} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-2xx':>8}")
    for name, runs in results.items():
        m = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(f"{name:<40} {m['rps']:>8.0f} {m['p50']:>8.2f} {m['p99']:>8.2f} {m['errors']:>8.0f}")
    # Each round runs all back to back: the median of the rounds' ratios is the figure least
    # moved by other load on the machine. Each row is divided by the bare view requested
    # alike: wrk's hook that writes a new client address per request takes its share of the
    # cores too.
    bare = {new: results[name] for name, (_port, path, new) in TARGETS.items() if path == BARE}
    for name, (_port, path, new_clients) in TARGETS.items():
        if path == BARE:
            continue
        base_runs, runs = bare[new_clients], results[name]
        ratios = [ours["rps"] / base["rps"] for ours, base in zip(runs, base_runs, strict=True)]
        base_name = "bare, new clients" if new_clients else "bare"
        label = f"req/s {name.split(' /')[0]} / {base_name}"
        print(f"{label:<48} {statistics.median(ratios):>5.2f}x (median of rounds)")
        print(f"  per round: {', '.join(f'{ratio:.2f}' for ratio in ratios)}")
    sizes = ", ".join(f"{size} papers: {count}" for size, count in queries.items())
    print(f"\nSQL queries of an uncached page ({sizes})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    parser.add_argument("--rounds", type=int, default=6, help="alternating rounds of both")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--cache", choices=["locmem", "redis"], default="locmem")
    parser.add_argument("--redis", default=common.redis_url(14), help="with --cache redis")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")

    folder = tempfile.TemporaryDirectory()
    body = Path(folder.name) / "papers.json"
    lua = Path(folder.name) / "new_clients.lua"
    lua.write_text(NEW_CLIENTS)
    redis = args.redis if args.cache == "redis" else None
    environment = bench_environment(cache=redis, body=body)
    warnings.filterwarnings("ignore", "No directory at")
    common.prepare(environment, database=BENCH_DATABASE, redis=redis)
    servers = []
    try:
        fill_database()
        queries = uncached_queries([5, 25, 100])
        servers.append(serve(workers=args.workers, port=PORT, environment=environment))
        shared_only = {**environment, "API_LOCAL_PAGES": "0"}
        servers.append(serve(workers=args.workers, port=SHARED_ONLY_PORT, environment=shared_only))
        body.write_bytes(fetch(OURS))
        # The second server's links name its own port.
        shared_body = fetch(OURS, port=SHARED_ONLY_PORT)
        shared_body = shared_body.replace(f":{SHARED_ONLY_PORT}/".encode(), f":{PORT}/".encode())
        if {fetch(BARE), shared_body} != {body.read_bytes()}:
            sys.exit("the bare view or the second server does not return the API's bytes")
        for port, path, _new in list(TARGETS.values()) * 50:  # all warm, every cache filled
            fetch(path, port=port)
        print(
            f"{len(body.read_bytes()):,} bytes per response; {args.workers} gunicorn workers, "
            f"wrk 1 thread x {args.connections} connections, {args.duration}s x "
            f"{args.rounds} rounds each; cache {args.cache}; {os.cpu_count()} cores"
        )
        results = {name: [] for name in TARGETS}
        for round_number in range(args.rounds):
            # Alternate the order, so a machine whose speed drifts penalises all alike.
            order = list(results) if round_number % 2 == 0 else list(reversed(results))
            for name in order:
                port, path, new_clients = TARGETS[name]
                url, script = f"http://127.0.0.1:{port}{path}", lua if new_clients else None
                results[name].append(
                    wrk(url, duration=args.duration, connections=args.connections, script=script)
                )
        report(results, queries)
    finally:
        for server in servers[1:]:
            server.terminate()
            server.wait(timeout=30)
        common.clean_up(servers[0] if servers else None, database=BENCH_DATABASE, redis=redis)
        folder.cleanup()


if __name__ == "__main__":
    main()
