"""What the benches that run the real app share (`load.py`, `api.py`, `send.py`): a PostgreSQL
database and a Redis database of their own, filled by replaying the recorded responses in
../shared/data, and gunicorn on loopback with the production settings of gunicorn.conf.py."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT.parent / "shared" / "data"
# The PostgreSQL server the benches create their databases on; the database it names is
# never touched.
SERVER_URL = os.getenv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/digest")


def database_url(name: str) -> str:
    return urlunsplit(urlsplit(SERVER_URL)._replace(path=f"/{name}"))


def redis_url(database: int) -> str:
    """REDIS_URL (the default of `make test`) with a database number of the bench's own."""
    url = os.getenv("REDIS_URL", "redis://127.0.0.1:6379/15")
    return urlunsplit(urlsplit(url)._replace(path=f"/{database}"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def server_environment(*, database: str, **extra: str) -> dict[str, str]:
    """The environment of the bench and of the gunicorn it starts: the real settings, without
    debug, on the bench's own database, plus what the bench adds."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(database),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "digest.settings",
        **extra,
    }


def recreate_database(name: str, *, drop_only: bool = False) -> None:
    import psycopg

    with psycopg.connect(database_url("postgres"), autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if not drop_only:
            connection.execute(f"CREATE DATABASE {name}")


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def prepare(environment: dict[str, str], *, database: str, redis: str | None = None) -> None:
    """Django set up in this process with `environment`, on the bench's own database, created
    empty, and its own Redis database, emptied, if it has one."""
    os.environ.update(environment)
    recreate_database(database)
    if redis is not None:
        flush_redis(redis)
    import django

    django.setup()


def gunicorn_command(app: str, *options: str) -> list[str]:
    """gunicorn with the production configuration (gunicorn.conf.py), `options` on top."""
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py")]
    return [*command, *options, app]


def replay_recorded() -> None:
    """Migrate, then replay ../shared/data through the parsers and upserts of a live fetch."""
    from django.core.management import call_command

    from digest.services.sources.fetch import replay

    call_command("migrate", verbosity=0)
    # The recorded RSS file is cut off on purpose: its complete entries are kept, as live.
    reports = replay(paths=[RECORDED])
    print(f"replayed {sum(r.counts.new for r in reports)} papers from {len(reports)} files")


def start_gunicorn(
    app: str,
    *,
    port: int,
    options: list[str],
    environment: dict[str, str],
    ready: Callable[[], object],
) -> subprocess.Popen:
    """gunicorn serving `app` on 127.0.0.1:`port` with gunicorn.conf.py, `options` on top.
    Returns once `ready()` stops raising OSError; exits if that takes over 60 s."""
    command = gunicorn_command(app, "-b", f"127.0.0.1:{port}", "--log-level", "warning", *options)
    server = subprocess.Popen(command, cwd=ROOT, env=environment)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            ready()
            return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    sys.exit("gunicorn did not start within 60 s")


def clean_up(server: subprocess.Popen | None, *, database: str, redis: str | None) -> None:
    """Stop gunicorn, drop the bench's database and empty its Redis database, if it had one."""
    if server is not None:
        server.terminate()
        server.wait(timeout=30)
    from django.db import connections

    connections.close_all()  # DROP DATABASE refuses while this process is connected
    recreate_database(database, drop_only=True)
    if redis is not None:
        flush_redis(redis)
