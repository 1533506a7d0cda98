"""Email messages flattened in one pass.

Django's `EmailMultiAlternatives.message()` builds a tree of `email.message` objects that the
standard library's generator then walks: it folds every header again, writes the bodies line
by line and scans them for a boundary, about as long as composing the whole digest. For the
shape every email of ours has (a plain-text body and one HTML alternative, no attachments)
`OnePassEmail` writes the same bytes directly: each header through the same two functions
(Django's `forbid_multi_line_headers`, the compat32 policy's `fold_binary`, memoised, since
most headers repeat from message to message), each body encoded once, and the boundary the
generator's way. tests/services/test_mime.py compares both on hostile headers and bodies.
"""

import functools
import random
import re
import sys
from email import policy
from email.message import Message
from email.utils import formatdate, make_msgid

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.mail.message import (
    RFC5322_EMAIL_LINE_LENGTH_LIMIT,
    SafeMIMEText,
    forbid_multi_line_headers,
)
from django.core.mail.utils import DNS_NAME

# The generator's line breaks, rewritten to the requested line separator.
LINE_BREAK = re.compile(rb"\r\n|\r|\n")
BOUNDARY_DIGITS = len(repr(sys.maxsize - 1))
LIST_HEADERS = (("To", "to"), ("Cc", "cc"), ("Reply-To", "reply_to"))


@functools.cache
def _policy(linesep: str) -> policy.Compat32:
    return policy.compat32.clone(linesep=linesep)


@functools.lru_cache(maxsize=4096)
def _stored(name: str, value: str, encoding: str) -> str:
    """A header's value as Django's SafeMIME classes store it (encoded words, no line break)."""
    return forbid_multi_line_headers(name, value, encoding)[1]


# Where the compat32 policy may break a header line: whitespace, and its split characters.
SPLITS = re.compile(r"[ \t,;]")


def _folded(name: str, value: str, linesep: str) -> bytes:
    """One stored header as the generator writes it. For a value of printable ASCII the
    policy writes a line short enough as it is, and one too long with nowhere to break it
    (a reader's signed List-Unsubscribe link) alone on a continuation line: the reader's
    own headers (To, Message-ID, Date, List-Unsubscribe) then cost no trip through
    `email.header`."""
    if value.isascii() and value.isprintable() and not value.endswith(" "):
        if len(name) + 2 + len(value) <= _policy(linesep).max_line_length:
            return f"{name}: {value}{linesep}".encode()
        if value and not SPLITS.search(value):
            return f"{name}: {linesep} {value}{linesep}".encode()
    return _folded_by_policy(name, value, linesep)


@functools.lru_cache(maxsize=4096)
def _folded_by_policy(name: str, value: str, linesep: str) -> bytes:
    return _policy(linesep).fold_binary(name, value)


def _has_long_lines(text: str, body: bytes) -> bool:
    """Django's test of `text` for lines too long for 8-bit, after a cheap one on its bytes:
    str.splitlines breaks at \\n and more, so its lines are no longer than those of \\n."""
    limit = RFC5322_EMAIL_LINE_LENGTH_LIMIT
    if max(map(len, body.split(b"\n"))) <= limit:
        return False
    return any(len(line.encode(errors="surrogateescape")) > limit for line in text.splitlines())


def _line_breaks(body: bytes, newline: bytes) -> bytes:
    """Every \\r\\n, \\r and \\n of `body` as `newline`, as the generator writes lines."""
    if b"\r" in body:
        return LINE_BREAK.sub(newline, body)
    return body if newline == b"\n" else body.replace(b"\n", newline)


def _part(subtype: str, text: str, *, linesep: str, encoding: str) -> bytes:
    """One text/* part, headers and body, as the generator flattens SafeMIMEText."""
    body = text.encode(encoding)
    if _has_long_lines(text, body):  # Django sends those quoted-printable: the library's way
        return SafeMIMEText(text, subtype, encoding).as_bytes(linesep=linesep)
    headers = (
        ("Content-Type", f'text/{subtype}; charset="{encoding}"'),
        ("MIME-Version", "1.0"),
        ("Content-Transfer-Encoding", "7bit" if body.isascii() else "8bit"),
    )
    newline = linesep.encode()
    head = b"".join(_folded(name, value, linesep) for name, value in headers)
    return head + newline + _line_breaks(body, newline)


def _boundary(text: bytes) -> str:
    """A boundary as the generator makes one: random, and in no line of the parts."""
    boundary = "=" * 15 + f"{random.randrange(sys.maxsize):0{BOUNDARY_DIGITS}d}" + "=="
    candidate, counter = boundary, 0
    # Only a text holding the delimiter needs the generator's search for it as a line.
    while b"--" + candidate.encode() in text and re.search(
        b"^--" + re.escape(candidate.encode()) + b"(--)?$", text, re.MULTILINE
    ):
        candidate, counter = f"{boundary}.{counter}", counter + 1
    return candidate


class OnePassMessage(Message):
    """What `OnePassEmail.message()` returns: its headers readable as on any Message, its
    bytes written in one pass, with the same boundary each time."""

    def __init__(self, *, headers: list[tuple[str, str]], parts: list[tuple[str, str]]) -> None:
        super().__init__()
        self.encoding = settings.DEFAULT_CHARSET
        self._headers = [
            (name, _stored(name, str(value), self.encoding)) for name, value in headers
        ]
        self.parts = parts
        self.boundary: str | None = None

    def as_bytes(self, unixfrom: bool = False, linesep: str = "\n") -> bytes:
        newline = linesep.encode()
        texts = [
            _part(kind, text, linesep=linesep, encoding=self.encoding) for kind, text in self.parts
        ]
        self.boundary = self.boundary or _boundary(newline.join(texts))
        content_type = f'multipart/alternative; boundary="{self.boundary}"'
        headers = [("Content-Type", content_type), ("MIME-Version", "1.0"), *self._headers]
        delimiter = b"--" + self.boundary.encode()
        return b"".join(
            [
                *(_folded(name, value, linesep) for name, value in headers),
                newline,
                delimiter + newline,
                (newline + delimiter + newline).join(texts),
                newline + delimiter + b"--" + newline,
            ]
        )

    def as_string(self, unixfrom: bool = False, linesep: str = "\n") -> str:
        # As the generator gives a message of 8-bit parts: the bytes, escaped.
        return self.as_bytes(linesep=linesep).decode("ascii", "surrogateescape")


class OnePassEmail(EmailMultiAlternatives):
    """An EmailMultiAlternatives whose message() is flattened in one pass, with the bytes of
    Django's own for a plain-text body and one HTML alternative, and no attachments; any
    other shape is Django's."""

    def message(self) -> Message:
        alternatives = [alternative.mimetype for alternative in self.alternatives]
        if self.attachments or not self.body or alternatives != ["text/html"]:
            return super().message()
        parts = [(self.content_subtype, self.body), ("html", self.alternatives[0].content)]
        return OnePassMessage(headers=self._headers(), parts=parts)

    def _headers(self) -> list[tuple[str, str]]:
        """(name, value) in the order Django's message() sets them."""
        extra = self.extra_headers
        headers = [("Subject", self.subject), ("From", extra.get("From", self.from_email))]
        for name, attribute in LIST_HEADERS:
            if name in extra:
                headers.append((name, extra[name]))
            elif values := getattr(self, attribute):
                headers.append((name, ", ".join(str(value) for value in values)))
        names = {name.lower() for name in extra}
        if "date" not in names:
            headers.append(("Date", formatdate(localtime=settings.EMAIL_USE_LOCALTIME)))
        if "message-id" not in names:
            headers.append(("Message-ID", make_msgid(domain=DNS_NAME)))
        skipped = {"from", "to", "cc", "reply-to"}
        headers += [(name, value) for name, value in extra.items() if name.lower() not in skipped]
        return headers
