"""An email backend that writes each message to its own .eml file (for `--dry-run`): a mail
client opens them as they would have arrived."""

import re
from pathlib import Path

from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.message import EmailMessage


class FolderBackend(BaseEmailBackend):
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
