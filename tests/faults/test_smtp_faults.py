"""A mail relay that misbehaves, with a real worker sending to it: refused connections and
4xx replies are retried with capped backoff, a 5xx reply fails the digest at once, and a
relay that hangs costs one digest its timeout while the others keep going out.
(Single sends in-process: tests/services/test_delivery.py; a 4xx then success through a
worker: tests/tasks/test_mail_tasks.py.)"""

import re

import pytest

from digest.models import Delivery
from tasks.mail import send_due_digests
from tests.conftest import publish, wait_for, wait_until_mail_idle
from tests.faults.conftest import email, states

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]
State = Delivery.State
READERS = 6
RETRY = re.compile(r"retry: Retry in (\d+)s(?:: (\w+))?")


def _retries(log: str) -> list[tuple[int, str]]:
    """(countdown, reason) of each retry the worker logged, in order."""
    return [(int(seconds), reason) for seconds, reason in RETRY.findall(log)]


def _final() -> bool:
    """Every digest planned, and none waiting or in flight: sent, failed or ambiguous."""
    current = states()
    unsettled = current[State.PENDING] + current[State.SENDING]
    return sum(current.values()) == READERS and not unsettled


def _state_of(n: int) -> Delivery:
    return Delivery.objects.get(subscriber__email=email(n))


def test_refused_connections_are_retried_with_capped_backoff(
    make_readers, sink, celery, shared_broker, processes
):
    make_readers(READERS)
    # Backoff 1 s, doubling, capped at 2 s; nobody listens on the relay's port yet.
    worker = celery.worker(
        broker=shared_broker, MAIL_RETRY_MAX_BACKOFF_SECONDS="2", MAIL_MAX_ATTEMPTS="10"
    )
    publish(shared_broker, send_due_digests)
    wait_for(
        lambda: len(_retries(processes.log(worker))) >= 3,
        what="three refused tries of the chunk",
    )
    assert (
        _retries(processes.log(worker))[:3]
        == [(1, "MailServerUnavailable")] + [(2, "MailServerUnavailable")] * 2
    )
    # Nothing was claimed while the relay was away.
    assert set(Delivery.objects.values_list("state", "attempts")) == {(State.PENDING, 0)}

    sink.start()
    wait_for(_final, timeout=120, what="every digest sent")
    assert states() == {State.SENT: READERS}
    assert {len(sink.accepted[email(n)]) for n in range(READERS)} == {1}


def test_a_5xx_fails_at_once_and_a_4xx_is_retried_until_it_gives_up(
    make_readers, sink, celery, shared_broker, processes
):
    make_readers(READERS)
    sink.refuse[email(1)] = "550 5.1.1 No such user"
    sink.refuse[email(2)] = "452 4.2.2 Mailbox full"
    sink.start()
    worker = celery.worker(
        broker=shared_broker, MAIL_MAX_ATTEMPTS="3", MAIL_RETRY_MAX_BACKOFF_SECONDS="2"
    )
    publish(shared_broker, send_due_digests)
    wait_for(_final, timeout=120, what="every digest sent or failed")
    wait_until_mail_idle(shared_broker)

    permanent, temporary = _state_of(1), _state_of(2)
    assert (permanent.state, permanent.error) == (State.FAILED, "550 5.1.1 No such user")
    assert sink.rcpt_attempts[email(1)] == 1
    assert temporary.state == State.FAILED
    assert temporary.error == "gave up after 3 attempts: 452 4.2.2 Mailbox full"
    assert sink.rcpt_attempts[email(2)] == temporary.attempts == 3
    # The worker retried only the refused digest, after 1 s and then 2 s.
    assert [seconds for seconds, _ in _retries(processes.log(worker))] == [1, 2]
    others = [n for n in range(READERS) if n not in (1, 2)]
    assert all(sink.accepted[email(n)] == [_state_of(n).message_id] for n in others)
    assert email(1) not in sink.accepted and email(2) not in sink.accepted


def test_a_relay_that_hangs_times_out_and_the_others_still_go_out(
    make_readers, sink, celery, shared_broker
):
    make_readers(READERS)
    sink.hang.add(email(2))  # the relay reads this message and never answers
    sink.start()
    celery.worker(broker=shared_broker)  # EMAIL_TIMEOUT=2
    publish(shared_broker, send_due_digests)
    wait_for(_final, timeout=120, what="every digest sent or marked for review")

    hung = _state_of(2)
    # The relay may have kept it: marked for review, never sent again.
    assert hung.state == State.AMBIGUOUS and "timed out" in hung.error
    assert states() == {State.SENT: READERS - 1, State.AMBIGUOUS: 1}
    assert all(len(sink.accepted[email(n)]) == 1 for n in range(READERS) if n != 2)

    publish(shared_broker, send_due_digests)
    wait_until_mail_idle(shared_broker)
    assert sink.hung == [email(2)]
