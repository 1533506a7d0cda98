"""gunicorn's settings for digest's web processes: `gunicorn -c gunicorn.conf.py digest.wsgi`.

Each worker holds its own embedding model (search embeds the query), about 450 MiB, so there are
few workers (one per core) and each serves several requests at once on threads. Every value
comes from the environment; `.env.example` lists the variables, docs/operations.md the sizing.
"""

import os
import sys

# torch runs one thread per core in every process. N workers on N cores then run N x N threads
# that spin waiting on each other: under load a 50 ms query embedding took 950 ms. One thread
# per worker; the workers and their threads give the parallelism. gunicorn sets these in the
# master before any worker imports torch. (Celery's embed worker keeps torch's default: it
# alone uses the cores.) The query tokeniser would start a pool of its own for one short text.
raw_env = [
    f"OMP_NUM_THREADS={os.getenv('WEB_TORCH_THREADS') or 1}",
    "TOKENIZERS_PARALLELISM=false",
]


def _cores() -> int:
    # The cores this process may run on (a container's CPU set), not the host's count.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


bind = os.getenv("WEB_BIND") or "127.0.0.1:8000"
workers = int(os.getenv("WEB_CONCURRENCY") or _cores())
# gthread: a slow or idle client holds one thread, not the whole worker, and keep-alive works;
# a sync worker would sit blocked on each connection it reads. Ours also closes a connection
# whose request head is not complete within WEB_HEAD_TIMEOUT seconds of its first bytes, so
# clients trickling their headers cannot hold every thread of a direct deployment.
worker_class = "digest.webserver.HeadDeadlineWorker"
HEAD_TIMEOUT = float(os.getenv("WEB_HEAD_TIMEOUT") or 2)
threads = int(os.getenv("WEB_THREADS") or 4)
keepalive = 5
# Access log lines without the signed tokens of readers' links (digest/logs.py).
logger_class = "digest.logs.ScrubbingGunicornLogger"
# The first search of a worker loads the model (a second or two): well within this.
timeout = 30
# No preload_app: the model loads on a worker's first search, so preloading would share only
# imported code, and would fork a master that has already started torch.


def post_fork(server: object, worker: object) -> None:
    worker.head_timeout = HEAD_TIMEOUT


def post_worker_init(worker: object) -> None:
    """Hold torch to the thread count above even if something imported it before the fork."""
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
