"""gunicorn's gthread worker with a deadline on each request's head (gunicorn.conf.py).

gthread reads a request line and headers on one of its few threads with a blocking socket and
no deadline: a handful of clients sending their headers a byte at a time hold every thread and
the site stops answering. Here the head must be complete within `head_timeout` seconds of its
first bytes (a real client sends it in one packet), or the connection is closed, as nginx's
client_header_timeout does. A slow client then costs a thread for seconds, not for ever.
Behind the buffering proxy of docs/operations.md the deadline never comes into play.
"""

import time

from gunicorn.http.errors import NoMoreData
from gunicorn.http.parser import RequestParser
from gunicorn.http.unreader import SocketUnreader
from gunicorn.workers.gthread import TConn, ThreadWorker


class HeadTimeout(NoMoreData):
    """gthread drops a connection whose client stopped sending (NoMoreData) quietly."""

    def __str__(self) -> str:
        return "request head not complete before its deadline"


class DeadlineUnreader(SocketUnreader):
    """Socket reads that give up at `deadline` (time.monotonic()), when one is set."""

    deadline: float | None = None

    def chunk(self, size_hint: int | None = None) -> bytes:
        if self.deadline is None:
            return super().chunk(size_hint)
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise HeadTimeout
        # A total deadline, not one per read: a byte every second must not keep it alive.
        self.sock.settimeout(remaining)
        try:
            return super().chunk(size_hint)
        except TimeoutError as exc:
            raise HeadTimeout from exc
        finally:
            self.sock.settimeout(None)  # blocking again, as gthread reads bodies


class HeadDeadlineParser(RequestParser):
    """Reads each request's head (request line and headers) under a deadline; the body and
    the application run without one."""

    def __init__(self, *, parser: RequestParser, sock: object, seconds: float) -> None:
        super().__init__(parser.cfg, sock, parser.source_addr)
        self.unreader = DeadlineUnreader(sock)
        # Whatever the parser being replaced had read ahead (an h2c preface check).
        self.unreader.unread(parser.unreader.take_buffered())
        self.seconds = seconds

    def __next__(self) -> object:  # gunicorn's Request, or StopIteration
        self.unreader.deadline = time.monotonic() + self.seconds
        try:
            return super().__next__()
        finally:
            self.unreader.deadline = None


class HeadDeadlineConn(TConn):
    def __init__(self, conn: TConn, *, head_timeout: float) -> None:
        super().__init__(conn.cfg, conn.sock, conn.client, conn.server)
        self.head_timeout = head_timeout

    def init(self) -> None:
        super().init()
        # HTTP/1 only: an HTTP/2 connection or another protocol keeps its own parser.
        if type(self.parser) is RequestParser:
            self.parser = HeadDeadlineParser(
                parser=self.parser, sock=self.sock, seconds=self.head_timeout
            )


class HeadDeadlineWorker(ThreadWorker):
    """gthread, with the head deadline of HeadDeadlineConn on every connection."""

    # Seconds from a head's first bytes to its end; gunicorn.conf.py's post_fork sets it
    # from the environment (WEB_HEAD_TIMEOUT).
    head_timeout: float = 2.0

    def enqueue_req(self, conn: TConn) -> None:
        # accept() hands every new connection here before a thread reads it; kept-alive
        # ones come back already ours.
        if not isinstance(conn, HeadDeadlineConn):
            conn = HeadDeadlineConn(conn, head_timeout=self.head_timeout)
        super().enqueue_req(conn)
