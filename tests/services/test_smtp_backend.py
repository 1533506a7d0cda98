"""Our SMTP backend sends what Django's does: the same envelope and message, every line that
starts with a dot stuffed as smtplib stuffs it (and so given back whole by the server)."""

import smtplib

from django.core.mail import EmailMessage
from hypothesis import given
from hypothesis import strategies as st

from digest.services.emails.backends import SMTPBackend, stuffed


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
