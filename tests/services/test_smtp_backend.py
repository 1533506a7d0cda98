"""Our SMTP backend sends what Django's does: the same envelope (a plain address written as
Django and smtplib write it, without parsing it) and message, every line that starts with a
dot stuffed as smtplib stuffs it (and so given back whole by the server)."""

import smtplib

from django.core.mail import EmailMessage
from django.core.mail.message import sanitize_address
from hypothesis import assume, given
from hypothesis import strategies as st

from digest.services.emails.backends import (
    PLAIN_ADDRESS,
    SMTPBackend,
    envelope_address,
    plain,
    stuffed,
)


@given(
    st.binary(max_size=200) | st.lists(st.sampled_from([b".", b"\n", b"\r\n", b"a"])).map(b"".join)
)
def test_dots_are_stuffed_as_smtplib_stuffs_them(data):
    assert stuffed(data) == smtplib._quote_periods(data)


def test_lines_starting_with_dots_arrive_as_written(smtp_server, settings):
    # A lone "." would end the message early if it were not stuffed.
    body = ".leading\n..two\n.\nmiddle . dot\n...\nend\n"
    message = EmailMessage(subject="dots", body=body, to=["a@example.org"])
    assert SMTPBackend().send_messages([message]) == 1
    (received,) = smtp_server.to("a@example.org")
    assert received.get_content().replace("\r\n", "\n") == body
    assert received["From"] == settings.DEFAULT_FROM_EMAIL


PLAIN = st.from_regex(PLAIN_ADDRESS, fullmatch=True)


@given(PLAIN)
def test_a_plain_address_is_written_as_django_and_smtplib_write_it(address):
    assume(plain(address))  # not one with an encoded word's "=?"
    assert envelope_address(address, "utf-8") == sanitize_address(address, "utf-8")
    assert f"<{address}>" == smtplib.quoteaddr(address)


@given(PLAIN | st.text(max_size=60) | st.sampled_from(["=?utf-8?q?abc?=@example.org"]))
def test_any_other_address_goes_through_django(address):
    assert _answer(envelope_address, address) == _answer(sanitize_address, address)


def _answer(write, address: str) -> str | type[ValueError]:
    """What `write` makes of the address, or ValueError where it refuses it."""
    try:
        return write(address, "utf-8")
    except ValueError:
        return ValueError


def test_the_envelope_names_plain_and_named_addresses_alike(smtp_server, settings):
    # The second reader is written with a display name (derived: no recording has one): the
    # envelope holds the bare address either way.
    settings.DEFAULT_FROM_EMAIL = "Paper digest <digest@example.org>"
    addresses = ["a.b+c@example.org", "Ünïcode Reader <d@example.org>"]
    messages = [EmailMessage(subject="hi", body="body\n", to=[to]) for to in addresses]
    assert SMTPBackend().send_messages(messages) == 2
    assert set(smtp_server.accepted) == {"a.b+c@example.org", "d@example.org"}
    assert smtp_server.senders == ["digest@example.org"] * 2
