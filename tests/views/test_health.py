"""/health/ for load balancers: 200 when every part answers, 500 naming the part that does not
(a private Redis, as cache and broker, stopped by the test)."""

import subprocess

import pytest
import redis

from tests.conftest import free_port, wait_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def private_redis(settings):
    """A Redis of this test's own, serving the cache and the Celery broker."""
    port = free_port()
    server = subprocess.Popen(
        [
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    wait_for(lambda: _answers(url), timeout=20, what="the private Redis")
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": url}}
    settings.CELERY_BROKER_URL = url
    yield server
    server.terminate()
    server.wait(timeout=20)


def _answers(url: str) -> bool:
    try:
        return redis.Redis.from_url(url, socket_timeout=1).ping()
    except redis.ConnectionError:
        return False


def test_health_is_200_when_all_is_well(client, private_redis):
    response = client.get("/health/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200, response.content
    checks = response.json()
    assert set(checks.values()) == {"OK"}
    names = " ".join(checks)
    for part in ("Database", "Cache", "Broker", "EmbeddingModel", "OutboxDisk"):
        assert part in names
    assert response["Cache-Control"].startswith("max-age=0")


def test_health_is_500_naming_redis_when_it_stops(client, private_redis):
    private_redis.terminate()
    private_redis.wait(timeout=20)
    response = client.get("/health/", HTTP_ACCEPT="application/json")
    assert response.status_code == 500
    failing = {name.split("(")[0] for name, state in response.json().items() if state != "OK"}
    assert failing == {"Cache", "Broker"}
    # Plain text for a person with curl, the same verdict.
    text = client.get("/health/", HTTP_ACCEPT="text/plain")
    assert text.status_code == 500 and "Broker" in text.content.decode()


def test_health_fails_when_the_outbox_disk_is_full(client, settings, tmp_path):
    settings.EMAIL_FILE_PATH = str(tmp_path / "outbox")
    settings.HEALTH_MIN_FREE_DISK_MB = 2**40  # more than any disk has
    response = client.get("/health/", HTTP_ACCEPT="application/json")
    assert response.status_code == 500
    (problem,) = [state for name, state in response.json().items() if "OutboxDisk" in name]
    assert "below HEALTH_MIN_FREE_DISK_MB" in problem


def test_health_fails_when_the_model_is_missing(client, settings, tmp_path):
    settings.DIGEST_EMBEDDING_MODEL = str(tmp_path)
    response = client.get("/health/", HTTP_ACCEPT="application/json")
    assert response.status_code == 500
    (problem,) = [state for name, state in response.json().items() if "EmbeddingModel" in name]
    assert "no model files" in problem
