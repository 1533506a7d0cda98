"""Production settings: `check --deploy` is clean, HTTPS-only settings are on, secrets come
from the environment and development defaults are refused; Celery's timeouts fit together.

Production settings are read in a child process, as a server would start, since settings are
fixed once imported; the tests themselves run under the development defaults."""

import json
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings

from tasks import mail
from tasks.celery import app
from tests.conftest import ROOT

SITE = "https://digest.example.org"
PRODUCTION = {
    "DIGEST_ENV": "production",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "SITE_URL": SITE,
    "ALLOWED_HOSTS": "digest.example.org",
    "DEBUG": "false",
    # Rate limits and admin login throttling count in a cache every web process shares.
    "CACHE_URL": "redis://127.0.0.1:6379/1",
}
# What a child process prints of its settings.
SHOW_SETTINGS = """
import json
from django.conf import settings as s
from tasks.celery import app
names = [
    "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS",
    "SECURE_PROXY_SSL_HEADER", "CSRF_TRUSTED_ORIGINS", "SECRET_KEY_FALLBACKS",
]
shown = {name: getattr(s, name, None) for name in names}
shown["broker_transport_options"] = app.conf.broker_transport_options
print(json.dumps(shown))
"""


def manage(*args: str, env: dict[str, str | None]) -> subprocess.CompletedProcess:
    """`manage.py` in a child process; a variable given as None is left out."""
    # The browser tests' async-unsafe switch is a test-process setting, not a deployment's.
    inherited = {k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"}
    environment = {name: value for name, value in {**inherited, **env}.items() if value}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_asks_production_for_a_shared_cache():
    # Each process's own memory would let every web worker count failed logins apart.
    result = manage(
        "check", "--deploy", "--fail-level", "WARNING", env={**PRODUCTION, "CACHE_URL": "locmem://"}
    )
    assert result.returncode != 0 and "axes.W001" in result.stderr


def test_production_is_https_only_and_rotates_keys_from_the_environment():
    env = {
        **PRODUCTION,
        "PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
        "SECRET_KEY_FALLBACKS": "previous-key, the-one-before",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    }
    result = manage("shell", "-c", SHOW_SETTINGS, env=env)
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout.strip().splitlines()[-1])
    assert shown["SESSION_COOKIE_SECURE"] and shown["CSRF_COOKIE_SECURE"]
    assert shown["SECURE_SSL_REDIRECT"]
    assert shown["SECURE_HSTS_SECONDS"] >= 31_536_000
    assert shown["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert shown["CSRF_TRUSTED_ORIGINS"] == [SITE]
    assert shown["SECRET_KEY_FALLBACKS"] == ["previous-key", "the-one-before"]
    timeout = shown["broker_transport_options"]["visibility_timeout"]
    assert timeout == settings.CELERY_VISIBILITY_TIMEOUT


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SECRET_KEY": None}, "needs a SECRET_KEY of its own"),
        ({"SECRET_KEY": settings.PUBLISHED_SECRET_KEY}, "the key published in the repository"),
        ({"SECRET_KEY_FALLBACKS": settings.PUBLISHED_SECRET_KEY}, "published in the repository"),
        ({"DEBUG": "true"}, "needs DEBUG=false"),
        ({"SITE_URL": "http://digest.example.org"}, "needs an https:// SITE_URL"),
        ({"DIGEST_ENV": "prod"}, "DIGEST_ENV must be development or production"),
    ],
)
def test_production_refuses_to_start_on_development_defaults(change, message):
    result = manage("check", env={**PRODUCTION, **change})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("django.core.exceptions.ImproperlyConfigured: ")
    assert message in last_line


SHOW_KEY = "from django.conf import settings; print(settings.SECRET_KEY)"


def shown(*args: str, env: dict[str, str | None]) -> str:
    """The last line a `manage.py shell -c` printed (the shell may announce its imports)."""
    return manage("shell", "-c", *args, env=env).stdout.strip().splitlines()[-1]


def test_the_quick_start_signs_with_a_random_key_of_its_own(tmp_path):
    # The key that was in the repository let anyone forge a preferences link.
    quick_start = {"SECRET_KEY": None, "DIGEST_ENV": None, "DIGEST_VAR_DIR": str(tmp_path)}
    key, again = (shown(SHOW_KEY, env=quick_start) for _ in range(2))
    assert len(key) >= 50 and key != settings.PUBLISHED_SECRET_KEY
    assert again == key  # kept across restarts: links in emails keep working
    stored = tmp_path / "secret_key"
    assert stored.read_text().strip() == key and stored.stat().st_mode & 0o077 == 0
    elsewhere = {**quick_start, "DIGEST_VAR_DIR": str(tmp_path / "other")}
    assert shown(SHOW_KEY, env=elsewhere) != key


def test_the_published_key_is_refused_in_development_too():
    result = manage("check", env={"SECRET_KEY": settings.PUBLISHED_SECRET_KEY})
    assert result.returncode != 0 and "published in the repository" in result.stderr


def test_the_quick_start_allows_only_its_own_host_names():
    # With `testserver` allowed, API next-links pointed at http://testserver/.
    show = "from django.conf import settings; print(','.join(settings.ALLOWED_HOSTS))"
    assert shown(show, env={"ALLOWED_HOSTS": None}) == "127.0.0.1,localhost"


def test_development_defaults_serve_plain_http_for_the_quick_start():
    # `make run` serves http://127.0.0.1:8000 with DEBUG off: nothing may force HTTPS there.
    assert settings.DIGEST_ENV == "development"
    assert not settings.SECURE_SSL_REDIRECT
    assert not settings.SESSION_COOKIE_SECURE and not settings.CSRF_COOKIE_SECURE
    assert settings.SECURE_HSTS_SECONDS == 0


def retry_countdown(task) -> int:
    # Celery sets these attributes only on tasks that ask for backoff; 600 s is its cap.
    if getattr(task, "retry_backoff", False):
        return getattr(task, "retry_backoff_max", 600)
    return task.default_retry_delay


def longest_countdown() -> int:
    """The longest a retry of any of our tasks waits before it runs again."""
    app.loader.import_default_modules()
    tasks = [task for name, task in app.tasks.items() if not name.startswith("celery.")]
    # send_digest_chunk passes its own countdowns: capped by MAIL_RETRY_MAX_BACKOFF_SECONDS
    # after a mail server's refusal, by DATABASE_BACKOFF_MAX_SECONDS after a database error.
    caps = (settings.MAIL_RETRY_MAX_BACKOFF_SECONDS, mail.DATABASE_BACKOFF_MAX_SECONDS)
    return max(*map(retry_countdown, tasks), *caps)


def test_redis_redelivers_a_task_only_after_its_longest_countdown_and_run():
    # With acks_late, Redis would hand a task still waiting or running to a second worker.
    assert settings.CELERY_TASK_ACKS_LATE
    assert settings.CELERY_TASK_SOFT_TIME_LIMIT < settings.CELERY_TASK_TIME_LIMIT
    longest = settings.CELERY_TASK_TIME_LIMIT + longest_countdown()
    assert longest < settings.CELERY_VISIBILITY_TIMEOUT
