"""Logging that tells operators what happened without handing out readers' links.

Signed tokens in paths (preferences, unsubscribe, feedback, confirmation links) and feed
tokens work as passwords: whoever reads a log line with one can act as that reader. Every line
the console handler writes, and every line of gunicorn's access log, has them replaced.
"""

import logging
import re

from gunicorn.glogging import Logger

TOKEN_PATH = re.compile(
    r"(/(?:subscribe/confirm|subscribe/renew|preferences|unsubscribe|feedback|feeds/me)/)"
    r"[^/?#\s.\"']+"
)
TOKEN_PARAM = re.compile(r"([?&]token=)[^&#\s\"']+")
HIDDEN = "[token]"


def scrub(text: str) -> str:
    return TOKEN_PARAM.sub(rf"\1{HIDDEN}", TOKEN_PATH.sub(rf"\1{HIDDEN}", text))


class ScrubTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if (scrubbed := scrub(message)) != message:
            record.msg, record.args = scrubbed, ()
        return True


class WarnWithoutTraceback(logging.Filter):
    """An unknown Host header is a client's mistake or a scan, not our error: one warning
    line, not an ERROR with a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None
        return True


class ScrubbingGunicornLogger(Logger):
    """gunicorn's logger, with tokens scrubbed from every field of an access log line."""

    def atoms(self, resp, req, environ, request_time) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        return {key: scrub(v) if isinstance(v, str) else v for key, v in atoms.items()}
