"""Slow clients against a live gunicorn on loopback, run with gunicorn.conf.py as in
production: connections that send unfinished headers must not freeze the site, and the
access log never shows a reader's token."""

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port, wait_for

pytestmark = pytest.mark.faults
THREADS = 2


@pytest.fixture
def gunicorn(subprocess_env, tmp_path):
    port = free_port()
    log = tmp_path / "access.log"
    env = {**subprocess_env, "WEB_CONCURRENCY": "1", "WEB_THREADS": str(THREADS)}
    command = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "digest.wsgi",
               "-b", f"127.0.0.1:{port}", "--access-logfile", str(log)]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    wait_for(lambda: _answers(port, "/subscribe/check-your-inbox", timeout=1), timeout=60,
             what="gunicorn")  # fmt: skip
    yield port, log
    server.terminate()
    server.wait(timeout=30)


def _answers(port: int, path: str, *, timeout: float) -> bytes | None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()
            )
            return conn.recv(64) or None
    except OSError:
        return None


def test_unfinished_headers_on_every_thread_do_not_freeze_the_site(gunicorn):
    port, _ = gunicorn
    # Five times the threads, each sending part of its headers and then a byte now and then.
    slow = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(THREADS * 5)]
    try:
        for conn in slow:
            conn.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        for _ in range(3):
            for conn in slow:
                with contextlib.suppress(OSError):  # the server dropped it: what we want
                    conn.sendall(b"X-a: b\r\n")
            answer = _answers(port, "/subscribe/check-your-inbox", timeout=15)
            assert answer and answer.startswith(b"HTTP/1.1 200"), answer
        assert time.monotonic() - started < 45
    finally:
        for conn in slow:
            conn.close()


def test_a_client_trickling_its_headers_is_dropped_within_the_head_deadline(gunicorn):
    port, _ = gunicorn
    # A byte every 0.3 s never lets a per-read timeout fire; the deadline (2 s) is in total.
    trickle = iter(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-a: b\r\n" * 20)
    with socket.create_connection(("127.0.0.1", port), timeout=0.3) as conn:
        started = time.monotonic()
        with contextlib.suppress(OSError):  # a reset once the server has closed it
            while (byte := next(trickle, None)) is not None:
                conn.sendall(bytes([byte]))
                with contextlib.suppress(TimeoutError):
                    if conn.recv(1) == b"":  # closed by the server, no answer
                        break
        assert time.monotonic() - started < 5


def test_the_access_log_shows_no_token(gunicorn):
    port, log = gunicorn
    assert _answers(port, "/preferences/MQ:1secret:signature/?token=feedsecret", timeout=10)
    wait_for(lambda: "preferences" in Path(log).read_text(), timeout=10, what="its log line")
    text = Path(log).read_text()
    assert "/preferences/[token]/" in text and "secret" not in text
