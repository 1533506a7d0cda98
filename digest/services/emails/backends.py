"""Email backends of ours: Django's SMTP backend with the envelope's sender worked out once,
and one that writes each message to its own .eml file (for `--dry-run`)."""

import functools
import re
import smtplib
from pathlib import Path

from django.conf import settings
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.message import EmailMessage, sanitize_address


@functools.lru_cache(maxsize=64)
def _envelope_sender(address: str, encoding: str) -> str:
    # Every digest has the same sender: its header parsing costs as much as composing a
    # third of the digest, once per message in Django's backend.
    return sanitize_address(address, encoding)


class SMTPBackend(EmailBackend):
    """Django's SMTP backend (the same settings and connection handling), sending the same
    envelope and bytes, with the sender's address parsed once per process."""

    def _send(self, email_message: EmailMessage) -> bool:
        if not email_message.recipients():
            return False
        encoding = email_message.encoding or settings.DEFAULT_CHARSET
        sender = _envelope_sender(email_message.from_email, encoding)
        recipients = [sanitize_address(addr, encoding) for addr in email_message.recipients()]
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
