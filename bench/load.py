"""A bounded load run on loopback: gunicorn serving the real app on PostgreSQL and Redis, and wrk
sending mixed traffic (trending page, paper pages, search, API, feeds, signups) at set rates.

Prints requests/s, p50/p95/p99 and errors per kind of request, then the memory of each
gunicorn worker once it has served searches (the embedding model loaded). Never asserts.

    apt-get install -y wrk        # the load generator (Debian's package)
    PYTHONPATH=. .venv/bin/python bench/load.py [--duration 30] [--workers N] [--scale 1.0]

gunicorn runs with the production settings of gunicorn.conf.py (gthread workers, one torch
thread each); the flags override its worker, thread and torch-thread counts.

It needs PostgreSQL and Redis (DATABASE_URL / REDIS_URL, the defaults of `make test`) and
creates what it uses: the database `digest_bench`, filled by replaying ../shared/data and
embedding it, and Redis database 13 as cache and broker; both are emptied again at the end.
Only 127.0.0.1 is ever sent a request.
"""

import argparse
import json
import math
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlencode
from urllib.request import Request, urlopen

from bench import _common as common

BENCH_DATABASE = "digest_bench"
BENCH_REDIS = common.redis_url(13)
PORT = 8765
BASE = f"http://127.0.0.1:{PORT}"
# Every limit out of the way: all traffic comes from one address, and the bench measures the
# pages, not the limiter.
UNLIMITED = {
    "SUBSCRIBE_RATE_LIMIT": str(10**9),
    "API_THROTTLE_RATE": f"{10**9}/second",
    "REPORT_RATE": f"{10**9}/second",
}
# What readers type into search (not paper data: the papers are the recorded ones).
QUERIES = [
    "diffusion models for video", "graph neural networks", "large language model reasoning",
    "reinforcement learning from human feedback", "3D gaussian splatting", "speech recognition",
    "protein structure prediction", "image segmentation", "retrieval augmented generation",
    "mixture of experts", "code generation benchmark", "robot manipulation policy",
]  # fmt: skip


@dataclass(frozen=True)
class Traffic:
    """One kind of request: its paths, its rate and, for posts, a body per request."""

    name: str
    paths: list[str]
    rate: float  # requests per second offered
    connections: int
    body: str | None = None  # a Lua format string, filled with (thread id, request number)
    headers: dict[str, str] | None = None


def bench_environment() -> dict[str, str]:
    return common.server_environment(
        database=BENCH_DATABASE,
        CACHE_URL=BENCH_REDIS,
        CELERY_BROKER_URL=BENCH_REDIS,
        SITE_URL=BASE,
        **UNLIMITED,
    )


def fill_database() -> None:
    """Migrate, replay the recorded responses, embed every paper, score trending."""
    from django.core.management import call_command

    common.replay_recorded()
    call_command("embed_papers")


# Keep-alive past the slowest kind's pause between two requests on one connection.
GUNICORN_OPTIONS = ["--keep-alive", "10"]


def sized(args: argparse.Namespace, environment: dict[str, str]) -> dict[str, str]:
    """The environment with the worker, thread and torch-thread counts the flags override."""
    sizing = {"WEB_CONCURRENCY": args.workers, "WEB_THREADS": args.threads,
              "WEB_TORCH_THREADS": args.torch_threads}  # fmt: skip
    return {**environment, **{k: str(v) for k, v in sizing.items() if v is not None}}


def serve(environment: dict[str, str]) -> subprocess.Popen:
    """gunicorn as in production (gunicorn.conf.py: gthread workers, which wrk needs too: it
    opens each connection before its paced request, and a sync worker would sit blocked on
    it)."""
    return common.start_gunicorn(
        "digest.wsgi",
        port=PORT,
        options=GUNICORN_OPTIONS,
        environment=environment,
        ready=lambda: socket.create_connection(("127.0.0.1", PORT), timeout=1).close(),
    )


def gunicorn_config(environment: dict[str, str]) -> dict[str, str]:
    """gunicorn.conf.py as gunicorn itself resolves it in this environment."""
    command = common.gunicorn_command("digest.wsgi", "--print-config", *GUNICORN_OPTIONS)
    printed = subprocess.run(
        command,
        cwd=common.ROOT, env=environment, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return dict(re.findall(r"^(\w+)\s+= (.*)$", printed, re.MULTILINE))


def torch_threads(config: dict[str, str]) -> str:
    """OMP_NUM_THREADS that gunicorn.conf.py gives the workers (its raw_env)."""
    found = re.search(r"OMP_NUM_THREADS=(\w+)", config.get("raw_env", ""))
    return found[1] if found else "torch's default (one per core)"


def csrf_pair() -> tuple[str, str]:
    """A CSRF cookie and form token, as a browser gets them from the signup page; Django
    accepts the pair on every later post."""
    with urlopen(f"{BASE}/subscribe", timeout=30) as response:
        cookie = response.headers["Set-Cookie"].split(";")[0]
        page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1]
    return cookie, token


def traffic(*, scale: float) -> tuple[list[Traffic], list[str]]:
    """The mix, with the endpoints this checkout lacks left out (and named)."""
    from django.urls import NoReverseMatch, reverse

    from digest.models import Paper

    ids = list(Paper.objects.order_by("-trending__score").values_list("pk", flat=True)[:200])
    days = [f"?day={day}" for day in Paper.objects.dates("published", "day", order="DESC")[:5]]
    searches = [f"?{urlencode({'q': query})}" for query in QUERIES]
    wanted = {
        "trending": lambda: [reverse("trending") + day for day in ["", *days]],
        "paper": lambda: [reverse("paper-detail", args=[pk]) for pk in ids],
        "search": lambda: [reverse("search") + query for query in searches],
        "api": lambda: [reverse("api-papers"), f"{reverse('api-papers')}?has_code=true"]
        + [reverse("api-paper", args=[pk]) for pk in ids[:50]]
        + [reverse("api-papers") + query for query in searches[:4]],
        "feeds": lambda: [reverse("feed-trending-rss"), reverse("feed-trending-atom"),
                          reverse("feed-category-rss", args=["cs.LG"])],
        "signup": lambda: [reverse("subscribe")],
    }  # fmt: skip
    rates = {"trending": 5, "paper": 10, "search": 2, "api": 10, "feeds": 3, "signup": 50}
    mix, missing = [], []
    for name, paths in wanted.items():
        try:
            rate = rates[name] * scale
            # Enough connections to keep the rate while answers take up to 200 ms.
            mix.append(Traffic(name, paths(), rate, connections=max(2, math.ceil(rate / 5))))
        except NoReverseMatch:
            missing.append(name)
    return mix, missing


def with_signup_form(mix: list[Traffic]) -> list[Traffic]:
    cookie, token = csrf_pair()
    form = {"csrfmiddlewaretoken": token, "interests": "graph neural networks",
            "delivery_hour": "8", "timezone": "UTC", "digest_size": "10"}  # fmt: skip
    # A Lua format string: each post gets a new address from (thread id, request number).
    body = urlencode(form).replace("%", "%%") + "&email=bench-%d-%d%%40example.org"
    headers = {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}
    return [
        replace(kind, body=body, headers=headers) if kind.name == "signup" else kind for kind in mix
    ]


LUA = """
local ffi = require("ffi")
ffi.cdef("typedef struct { long sec; long usec; } bench_tv; int gettimeofday(bench_tv *, void *);")
local tv = ffi.new("bench_tv")
local function now_ms()
  ffi.C.gettimeofday(tv, nil)
  return tonumber(tv.sec) * 1000 + tonumber(tv.usec) / 1000
end

local paths = {%(paths)s}
local body_format = %(body)s
local headers = {%(headers)s}
local interval_ms = %(interval_ms)f
local threads, next_id = {}, 0
local sent, next_slot = 0, nil

function setup(thread)
  next_id = next_id + 1
  thread:set("id", next_id)
  table.insert(threads, thread)
end

function init(args) server_errors, client_errors = 0, 0 end

-- Requests start on a fixed schedule (the offered rate) across the connections; a server
-- that falls behind is not sent a burst to catch up, so the achieved rate shows the shortfall.
function delay()
  local now = now_ms()
  if next_slot == nil or next_slot < now then next_slot = now end
  local wait = next_slot - now
  next_slot = next_slot + interval_ms
  return math.floor(wait)
end

function request()
  sent = sent + 1
  local path = paths[(sent %% #paths) + 1]
  if body_format then
    return wrk.format("POST", path, headers, string.format(body_format, id, sent))
  end
  return wrk.format("GET", path)
end

function response(status, headers, body)
  if status >= 500 then server_errors = server_errors + 1
  elseif status >= 400 then client_errors = client_errors + 1 end
end

function done(summary, latency, requests)
  local s5, s4 = 0, 0
  for _, thread in ipairs(threads) do
    s5 = s5 + thread:get("server_errors")
    s4 = s4 + thread:get("client_errors")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %%d, "seconds": %%f, "p50": %%d, "p95": %%d, "p99": %%d, "5xx": %%d, ' ..
    '"4xx": %%d, "socket": %%d, "timeouts": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), s5, s4, e.connect + e.read + e.write, e.timeout))
end
"""


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid Lua string for these characters


def wrk_script(kind: Traffic, folder: Path) -> Path:
    script = folder / f"{kind.name}.lua"
    script.write_text(
        LUA
        % {
            "paths": ", ".join(map(lua_string, kind.paths)),
            "body": lua_string(kind.body) if kind.body else "nil",
            "headers": ", ".join(
                f"[{lua_string(k)}] = {lua_string(v)}" for k, v in (kind.headers or {}).items()
            ),
            "interval_ms": 1000 / kind.rate,
        }
    )
    return script


def run_mix(mix: list[Traffic], *, duration: int) -> dict[str, dict]:
    """Every kind at once, one wrk each, for `duration` seconds."""
    with tempfile.TemporaryDirectory() as folder:
        runs = {
            kind.name: subprocess.Popen(
                ["wrk", "-t1", f"-c{kind.connections}", f"-d{duration}s", "--timeout", "10s",
                 "-s", str(wrk_script(kind, Path(folder))), BASE],
                stdout=subprocess.PIPE,
                text=True,
            )
            for kind in mix
        }  # fmt: skip
        return {
            name: json.loads(run.communicate()[0].splitlines()[-1]) for name, run in runs.items()
        }


def warm_up(mix: list[Traffic], *, workers: int) -> None:
    """A few requests of each kind, searches enough for every worker to load the model."""
    for kind in mix:
        for path in kind.paths[: 4 * workers if kind.name == "search" else 2]:
            with urlopen(Request(BASE + path), timeout=120) as response:
                response.read()


def memory_mib(pid: int) -> dict[str, float]:
    """RSS, PSS (shared pages split among the processes that map them) and USS (private)."""
    fields = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, value = line.split(":")
        fields[name] = int(value.split()[0]) / 1024
    private = fields["Private_Clean"] + fields["Private_Dirty"]
    return {"rss": fields["Rss"], "pss": fields["Pss"], "uss": private}


def worker_pids(master: int) -> list[int]:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return sorted(map(int, children))


def report(results: dict[str, dict], missing: list[str], mix: list[Traffic]) -> None:
    offered = {kind.name: kind.rate for kind in mix}
    print(f"\n{'kind':<9} {'offered/s':>9} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'5xx':>5} {'4xx':>5} {'socket':>6} {'timeout':>7}")  # fmt: skip
    total = {"requests": 0, "5xx": 0}
    for name, r in results.items():
        print(
            f"{name:<9} {offered[name]:>9.1f} {r['requests'] / r['seconds']:>7.1f} "
            f"{r['p50'] / 1e3:>7.1f} {r['p95'] / 1e3:>7.1f} {r['p99'] / 1e3:>7.1f} "
            f"{r['5xx']:>5} {r['4xx']:>5} {r['socket']:>6} {r['timeouts']:>7}"
        )
        total["requests"] += r["requests"]
        total["5xx"] += r["5xx"]
    seconds = max(r["seconds"] for r in results.values())
    print(f"{'all':<9} {sum(offered.values()):>9.1f} {total['requests'] / seconds:>7.1f}"
          f"{'':>24} {total['5xx']:>5}")  # fmt: skip
    for name in missing:
        print(f"skipped {name}: no such URL in this checkout")


def report_memory(master: int) -> None:
    print(f"\n{'process':<14} {'RSS MiB':>8} {'PSS MiB':>8} {'USS MiB':>8}")
    for label, pid in [("master", master)] + [(f"worker {p}", p) for p in worker_pids(master)]:
        m = memory_mib(pid)
        print(f"{label:<14} {m['rss']:>8.0f} {m['pss']:>8.0f} {m['uss']:>8.0f}")


def run_step(*, scale: float, duration: int) -> None:
    """`duration` seconds of the mix at `scale` times its rates, and its figures."""
    mix, missing = traffic(scale=scale)
    if any(kind.name == "signup" for kind in mix):
        mix = with_signup_form(mix)
    before = os.getloadavg()[0]
    results = run_mix(mix, duration=duration)
    print(
        f"\nrates x{scale:g}, {duration}s: {os.cpu_count()} cores, load average {before:.1f} "
        f"before and {os.getloadavg()[0]:.1f} after (other processes skew the figures)"
    )
    report(results, missing, mix)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=30, help="seconds of traffic per step")
    parser.add_argument(
        "--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's, one per core)"
    )
    parser.add_argument(
        "--threads", type=int, help="threads per gunicorn worker (default: gunicorn.conf.py's)"
    )
    parser.add_argument(
        "--scale", type=float, nargs="+", default=[1.0], help="steps: multiples of every rate"
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        help="torch threads per gunicorn worker (default: gunicorn.conf.py's, one)",
    )
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing: apt-get install -y wrk")
    environment = bench_environment()
    common.prepare(environment, database=BENCH_DATABASE, redis=BENCH_REDIS)
    server = None
    try:
        started = time.monotonic()
        fill_database()
        print(f"database filled in {time.monotonic() - started:.0f}s")
        environment = sized(args, environment)
        config = gunicorn_config(environment)
        server = serve(environment)
        warm_up(traffic(scale=1)[0], workers=int(config["workers"]))
        print(
            f"traffic against {config['workers']} gunicorn {config['worker_class']} workers x "
            f"{config['threads']} threads, torch threads {torch_threads(config)}"
        )
        for scale in args.scale:
            run_step(scale=scale, duration=args.duration)
        report_memory(server.pid)
        from digest.models import Subscriber

        print(f"\n{Subscriber.objects.count()} signups stored")
    finally:
        common.clean_up(server, database=BENCH_DATABASE, redis=BENCH_REDIS)


if __name__ == "__main__":
    main()
