"""Where a digest's CPU goes when it is sent: `send_chunk` called in this one process over
the planned chunks (no Celery), to the same local SMTP sink as bench/send.py, with the CPU
time of this process, of the sink and of PostgreSQL's processes read from /proc, and the
wall and CPU time of each step of `delivery` (load, compose, claim, send, record). Prints
milliseconds per digest; the sink's CPU, measured over the same digests, is the yardstick:
the bare smtplib loop of bench/send.py costs the sink as much and its own client only
smtplib's part. Asserts nothing.

    PYTHONPATH=. .venv/bin/python bench/send_profile.py [--subscribers 3000]

Works in bench/send.py's database (`digest_bench_send`, created and dropped); Linux only
(/proc).
"""

import argparse
import functools
import multiprocessing
import os
import subprocess
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

from bench import _common as common
from bench import send

STEPS = ("_drop_departed", "_drop_emptied", "_pending", "digest_message", "_claim", "_send")
STEPS += ("_record_surely",)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU of the processes `pids` (those still running)."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except FileNotFoundError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    found = subprocess.run(["pgrep", "postgres"], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


def timed_steps(module: object) -> dict[str, list[float]]:
    """Wrap each of STEPS in `module` to add its [wall, CPU] seconds to the returned table."""
    spent: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])

    def wrap(name: str) -> None:
        step = getattr(module, name)

        @functools.wraps(step)
        def timed(*args, **kwargs):
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return step(*args, **kwargs)
            finally:
                spent[name][0] += time.perf_counter() - wall
                spent[name][1] += time.process_time() - cpu

        setattr(module, name, timed)

    for name in STEPS:
        wrap(name)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subscribers", type=int, default=3000)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2026, 6, 12))
    args = parser.parse_args()

    port = common.free_port()
    spawn = multiprocessing.get_context("spawn")
    ready, stop, received = spawn.Event(), spawn.Event(), spawn.Value("i", 0)
    sink = spawn.Process(target=send.sink, args=(port, ready, stop, received))
    sink.start()
    ready.wait(30)
    send.setup_django(port)
    from digest.services import delivery
    from digest.services.batching import batched

    try:
        send.load_corpus(args.day)
        planned = delivery.plan(
            day=args.day, subscriber_ids=send.make_subscribers(args.subscribers)
        )
        first, *chunks = batched(planned, 100)
        delivery.send_chunk(delivery_ids=first)  # warms templates, blocks and connections
        spent = timed_steps(delivery)
        postgres = postgres_pids()
        before = (cpu_seconds([sink.pid]), cpu_seconds(postgres))
        wall, cpu = time.perf_counter(), time.process_time()
        for chunk in chunks:
            delivery.send_chunk(delivery_ids=chunk)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        sink_cpu = cpu_seconds([sink.pid]) - before[0]
        postgres_cpu = cpu_seconds(postgres) - before[1]
        n = sum(map(len, chunks))
        per = 1000 / n
        print(
            f"{n} digests, ms per digest: this process {wall * per:.3f} wall, {cpu * per:.3f} CPU"
        )
        print(f"  sink CPU {sink_cpu * per:.3f}, PostgreSQL CPU {postgres_cpu * per:.3f}")
        print(f"  this process's CPU / the sink's: {cpu / sink_cpu:.2f}")
        for name, (step_wall, step_cpu) in spent.items():
            print(f"  {name:<16} wall {step_wall * per:.3f}  CPU {step_cpu * per:.3f}")
    finally:
        common.clean_up(None, database=send.DATABASE, redis=common.redis_url(12))
        stop.set()
        sink.join(30)


if __name__ == "__main__":
    main()
