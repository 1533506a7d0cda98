"""OnePassEmail writes the bytes Django's EmailMultiAlternatives does, for any subject, address,
header and bodies (line breaks of every kind, 8-bit text, lines too long for 8-bit), with
both line separators; other shapes of message are Django's own."""

import re
from email import policy

import pytest
from django.core.mail import BadHeaderError, EmailMultiAlternatives
from hypothesis import given, settings
from hypothesis import strategies as st

from digest.services.emails.mime import OnePassEmail, OnePassMessage, _folded

BOUNDARY = re.compile(rb"={15}\d{19}==(\.\d+)?")
HEADERS = {"Message-ID": "<1@digest.example.org>", "Date": "Tue, 01 Dec 2026 12:00:00 -0000"}
TEXT = st.text(alphabet=st.sampled_from("ab <>&\r\n\t\x0b\x85\u2028é€\U0001d518="), max_size=80)
BODIES = st.one_of(TEXT, st.builds(lambda text, n: text * n, TEXT, st.integers(1, 60)))
# Valid header text: no line break (Django refuses one with BadHeaderError, both ways).
ONE_LINE = st.text(alphabet=st.sampled_from("Ab :;,=?<>\"'é€\U0001d518-"), max_size=200)
ADDRESSES = st.sampled_from(["ada@example.org", "ünï@example.org", "a@exämple.org", "x@y.z"])


def _both(*, html: str | None = None, **fields) -> list[EmailMultiAlternatives]:
    """The same email as Django's EmailMultiAlternatives and as OnePassEmail."""
    emails = [kind(**fields) for kind in (EmailMultiAlternatives, OnePassEmail)]
    for email in emails if html is not None else []:
        email.attach_alternative(html, "text/html")
    return emails


def _bytes(email, linesep: str) -> bytes:
    return BOUNDARY.sub(b"B", email.message().as_bytes(linesep=linesep))


@settings(max_examples=150, deadline=None)
@given(
    subject=ONE_LINE,
    to=ADDRESSES,
    body=BODIES.filter(bool),
    html=BODIES,
    unsubscribe=ONE_LINE,
    linesep=st.sampled_from(["\n", "\r\n"]),
)
def test_the_same_bytes_as_django(subject, to, body, html, unsubscribe, linesep):
    headers = {**HEADERS, "List-Unsubscribe": unsubscribe, "List-Id": "Daily <d.example.org>"}
    django, one_pass = _both(subject=subject, body=body, html=html, to=[to], headers=headers)
    assert isinstance(one_pass.message(), OnePassMessage)
    assert _bytes(one_pass, linesep) == _bytes(django, linesep)


PRINTABLE = st.characters(min_codepoint=32, max_codepoint=126)


@settings(max_examples=500, deadline=None)
@given(
    name=st.sampled_from(["To", "Subject", "Message-ID", "List-Unsubscribe", "X"]),
    value=st.text(alphabet=PRINTABLE | st.just("\t"))
    # Long ones with few or no places to break: each a signed link in List-Unsubscribe.
    | st.text(alphabet=PRINTABLE.filter(lambda c: c not in " ,;"), min_size=60, max_size=400)
    | st.lists(st.text(alphabet=PRINTABLE, min_size=70, max_size=120), max_size=3).map(", ".join),
    linesep=st.sampled_from(["\n", "\r\n"]),
)
def test_each_header_line_as_the_policy_folds_it(name, value, linesep):
    # Printable lines short enough or with nowhere to break are written directly, the rest
    # by the policy: the same bytes.
    expected = policy.compat32.clone(linesep=linesep).fold_binary(name, value)
    assert _folded(name, value, linesep) == expected


def test_headers_are_readable_and_the_boundary_stays():
    _, email = _both(subject="Hi", body="text", html="<p>html</p>", to=["a@example.org"],
                     headers=HEADERS)  # fmt: skip
    message = email.message()
    assert message["Message-ID"] == HEADERS["Message-ID"]
    assert message.as_bytes() == message.as_bytes()


@pytest.mark.parametrize(
    "fields",
    [
        {"body": "text"},  # no alternative
        {"body": "", "html": "<p>only html</p>"},  # no body
        {"body": "text", "html": "<p>x</p>", "attachments": [("a.txt", "data", "text/plain")]},
    ],
)
def test_other_shapes_are_djangos_own(fields):
    _, email = _both(subject="Hi", to=["a@example.org"], headers=HEADERS, **fields)
    assert not isinstance(email.message(), OnePassMessage)


def test_a_line_break_in_a_header_is_refused_as_by_django():
    for email in _both(subject="Hi\nBcc: x@y.z", body="t", html="h", to=["a@example.org"]):
        with pytest.raises(BadHeaderError):
            email.message()
