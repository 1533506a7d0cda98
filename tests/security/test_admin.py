"""The admin is staff only and CSRF-protected. (Secure cookies in production: test_settings.)"""

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

PASSWORD = "a long and unguessable passphrase"


def log_in(client: Client, username: str) -> int:
    url = reverse("admin:login")
    return client.post(url, {"username": username, "password": PASSWORD}).status_code


def test_anonymous_readers_are_sent_to_the_login_page(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))


def test_a_reader_without_staff_status_cannot_log_in(client):
    User.objects.create_user("reader", password=PASSWORD)
    assert log_in(client, "reader") == 200  # the form again, with its error
    assert client.get(reverse("admin:index")).status_code == 302


def test_staff_can_log_in(client):
    User.objects.create_user("editor", password=PASSWORD, is_staff=True)
    assert log_in(client, "editor") == 302
    assert client.get(reverse("admin:index")).status_code == 200


def test_the_login_form_needs_its_csrf_token():
    User.objects.create_user("editor", password=PASSWORD, is_staff=True)
    assert log_in(Client(enforce_csrf_checks=True), "editor") == 403
