"""The Celery app of bench/send.py's old path: the production tasks and sending code, with
each digest composed the straightforward way (`digest_message(compiled=False)`: every template
and paper block rendered by Django for each reader, the message built by Django's MIME
classes), the reference tests/services/test_compose.py compares bytes with.

    celery -A bench.straightforward_mail worker -Q mail-straightforward
"""

import functools

from celery.signals import worker_process_init

from tasks import app

__all__ = ["app"]


@worker_process_init.connect
def compose_straightforwardly(**_kwargs) -> None:
    from digest.services import delivery
    from digest.services.emails import compose

    delivery.digest_message = functools.partial(compose.digest_message, compiled=False)
