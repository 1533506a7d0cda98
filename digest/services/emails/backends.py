"""Email backends of ours: Django's SMTP backend with less work per message (the envelope's
addresses not parsed again when they are plain, leading dots stuffed without a regular
expression), and one that writes each message to its own .eml file (for `--dry-run`)."""

import functools
import re
import smtplib
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import EmailMessage, sanitize_address

# RFC 5322 3.2.3's dot-atom: a local part every SMTP relay carries as it is (signup accepts
# no other, subscriptions.validate_address).
ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
DOT_ATOM = rf"{ATEXT}(?:\.{ATEXT})*"
# "=?" starts an RFC 2047 encoded word, which Django's `sanitize_address` decodes when it
# writes the envelope: the mail would go to another address than the one given.
ENCODED_WORD = "=?"
# A plain address: a dot-atom local part at a domain of ASCII labels of 1 to 63 letters,
# digits and hyphens. Django's `sanitize_address` and smtplib's `quoteaddr` parse such an
# address (about 80 and 18 us) only to write it again as it was: the envelope of every
# digest is one. One with an encoded word takes Django's way.
LABEL = r"[A-Za-z0-9-]{1,63}"
PLAIN_ADDRESS = re.compile(rf"{DOT_ATOM}@(?:{LABEL}\.)*{LABEL}")


def plain(address: object) -> bool:
    if type(address) is not str or ENCODED_WORD in address:
        return False
    return PLAIN_ADDRESS.fullmatch(address) is not None


def envelope_address(address: str, encoding: str) -> str:
    """What Django's backend puts in the envelope for `address`: a plain one as it is."""
    return address if plain(address) else sanitize_address(address, encoding)


# Every digest has the same sender, often with a display name: parsed once per process.
_envelope_sender = functools.lru_cache(maxsize=64)(sanitize_address)
_quoted_sender = functools.lru_cache(maxsize=64)(smtplib.quoteaddr)


def stuffed(message: bytes) -> bytes:
    """RFC 5321 4.5.2: a line that starts with "." gets another one. smtplib does it with a
    multi-line regular expression that tries every position: about 0.1 ms per 20 KiB digest,
    where a digest's lines almost never start with a dot."""
    if message.startswith(b"."):
        message = b"." + message
    return message.replace(b"\n.", b"\n..") if b"\n." in message else message


class _LeanCommands:
    """smtplib's MAIL, RCPT and DATA with less work: the sender quoted once, a plain
    recipient written as <address> without `quoteaddr` parsing it again, and a message of
    bytes stuffed by `stuffed`."""

    def mail(self, sender: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        if any(option.lower() == "smtputf8" for option in options):
            return super().mail(sender, options)  # which checks and switches the encoding
        self.putcmd("mail", f"from:{_quoted_sender(sender)}{self._options(options)}")
        return self.getreply()

    def rcpt(self, recip: str, options: Sequence[str] = ()) -> tuple[int, bytes]:
        if not plain(recip):
            return super().rcpt(recip, options)
        self.putcmd("rcpt", f"to:<{recip}>{self._options(options)}")
        return self.getreply()

    def _options(self, options: Sequence[str]) -> str:
        # As smtplib: ESMTP parameters only to a server that speaks ESMTP.
        return " " + " ".join(options) if options and self.does_esmtp else ""

    def data(self, msg: bytes | str) -> tuple[int, bytes]:
        if isinstance(msg, str):
            return super().data(msg)
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        body = stuffed(msg)
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.send(body + b".\r\n")
        return self.getreply()


class Connection(_LeanCommands, smtplib.SMTP):
    pass


class SSLConnection(_LeanCommands, smtplib.SMTP_SSL):
    pass


class SMTPBackend(EmailBackend):
    """Django's SMTP backend (the same settings and connection handling), sending the same
    envelope and bytes, with the sender's address parsed once per process, plain recipients
    not parsed at all, and smtplib's commands as in `_LeanCommands`."""

    @property
    def connection_class(self) -> type[smtplib.SMTP]:
        return SSLConnection if self.use_ssl else Connection

    def _send(self, email_message: EmailMessage) -> bool:
        if not email_message.recipients():
            return False
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        sender = _envelope_sender(email_message.from_email, encoding)
        recipients = [envelope_address(addr, encoding) for addr in email_message.recipients()]
        message = email_message.message()
        try:
            self.connection.sendmail(sender, recipients, message.as_bytes(linesep="\r\n"))
        except smtplib.SMTPException:
            if not self.fail_silently:
                raise
            return False
        return True


class FolderBackend(BaseEmailBackend):
    """Writes each message to its own .eml file: a mail client opens them as they would have
    arrived."""

    def __init__(self, *, folder: Path, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.folder = folder

    def open(self) -> bool:
        self.folder.mkdir(parents=True, exist_ok=True)
        return True

    def send_messages(self, email_messages: list[EmailMessage]) -> int:
        self.open()
        for message in email_messages:
            mime = message.message()
            # The Message-ID is unique per message; keep only what a file name may hold.
            name = re.sub(r"[^A-Za-z0-9.@-]", "_", mime["Message-ID"].strip("<>"))
            (self.folder / f"{name}.eml").write_bytes(mime.as_bytes(linesep="\r\n"))
        return len(email_messages)
