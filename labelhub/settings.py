"""LabelHub settings: one module, read from environment variables.

With nothing set you get the embedded development setup: the embedded PostgreSQL under var/postgres
(labelhub/embedded_db.py; `make run` and `make test` start it) and Celery on kombu's filesystem
transport (a worker started by `make run` picks tasks up, no Redis needed). Set DATABASE_URL and
REDIS_URL for another PostgreSQL and Redis. LABELHUB_PROFILE=production turns on
the production profile (DEBUG off, SECRET_KEY required, secure cookies), which passes
`manage.py check --deploy`.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from labelhub import embedded_db

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("LABELHUB_VAR_DIR", BASE_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
        raise ImproperlyConfigured(f"{name} must be true or false, got {raw!r}")
    return raw.lower() in {"1", "true", "yes"}


def _env_number(name: str, default, parse, what: str):
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be {what}, got {raw!r}")


def env_int(name: str, default: int) -> int:
    return _env_number(name, default, int, "a whole number")


def env_float(name: str, default: float) -> float:
    return _env_number(name, default, float, "a number")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


PROFILE = os.environ.get("LABELHUB_PROFILE", "development")
if PROFILE not in {"development", "production"}:
    raise ImproperlyConfigured(f"LABELHUB_PROFILE must be development or production, got {PROFILE!r}")
PRODUCTION = PROFILE == "production"

DEBUG = env_bool("DEBUG", default=not PRODUCTION)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set in the production profile")
    SECRET_KEY = "django-insecure-development-only-key"  # noqa: S105 - development default, never used in production
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "annotations",
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

ROOT_URLCONF = "labelhub.urls"
WSGI_APPLICATION = "labelhub.wsgi.application"

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

# Database: DATABASE_URL, else the embedded PostgreSQL's socket under var/ (labelhub/embedded_db.py,
# started by `make run` and `make test`). Connections persist across requests. The health check (a
# `SELECT 1` before each request's first query) is off by default: it costs a round trip per request
# on the labeling loop's hot path, and without it a connection the server closed fails one request
# per worker, after which Django replaces it. DB_HEALTH_CHECKS=true turns it on.
DATABASE_URL = os.environ.get("DATABASE_URL", "") or embedded_db.url(VAR_DIR)
DATABASES = {"default": dj_database_url.parse(
    DATABASE_URL, conn_max_age=600, conn_health_checks=env_bool("DB_HEALTH_CHECKS", False)
)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"
WHITENOISE_USE_FINDERS = DEBUG  # development: serve straight from static/ without collectstatic
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"
# Finished exports older than this many days are deleted with their files by `manage.py prune_exports`
# (run it daily from cron or a periodic task). 0, the default, keeps every export: deleting
# researchers' data is something an operator opts into.
LABELHUB_EXPORT_RETENTION_DAYS = env_int("LABELHUB_EXPORT_RETENTION_DAYS", 0)
if LABELHUB_EXPORT_RETENTION_DAYS < 0:
    raise ImproperlyConfigured(f"LABELHUB_EXPORT_RETENTION_DAYS must be 0 (keep all) or more, "
                               f"got {LABELHUB_EXPORT_RETENTION_DAYS}")

# Uploads: prompt-set files are streamed to a temporary file, never held in memory.
LABELHUB_MAX_UPLOAD_BYTES = env_int("LABELHUB_MAX_UPLOAD_BYTES", 200 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# Celery: Redis when REDIS_URL is set; otherwise kombu's filesystem transport under var/celery,
# so that `make run` works with no server installed (it starts a worker beside the web server).
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
else:
    _celery_dir = VAR_DIR / "celery"
    for _sub in ("in", "processed", "control"):
        (_celery_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_celery_dir / "in"),
        "data_folder_out": str(_celery_dir / "in"),
        "processed_folder": str(_celery_dir / "processed"),
        "control_folder": str(_celery_dir / "control"),  # else ./control in the working directory
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_EAGER_PROPAGATES = True

# LLM generation (OpenAI-compatible server). A project may override each of these.
LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "http://127.0.0.1:8001/v1")
LLM_MODEL = os.environ.get("LLM_MODEL", "")
LLM_API_KEY_ENV = os.environ.get("LLM_API_KEY_ENV", "OPENAI_API_KEY")
LLM_CONCURRENCY = env_int("LLM_CONCURRENCY", 16)
LLM_TIMEOUT_SECONDS = env_int("LLM_TIMEOUT_SECONDS", 60)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 5)
LLM_BACKOFF_SECONDS = env_float("LLM_BACKOFF_SECONDS", 1.0)  # first wait before a retry; doubles each time
LLM_MAX_BACKOFF_SECONDS = env_float("LLM_MAX_BACKOFF_SECONDS", 30.0)

REST_FRAMEWORK = {
    # Token first: an API client's request is then authenticated without touching the session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"]
    + (["rest_framework.renderers.BrowsableAPIRenderer"] if DEBUG else []),
    "EXCEPTION_HANDLER": "annotations.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "LabelHub API",
    "DESCRIPTION": "Collect human rankings of LLM completions and export pairwise preference data.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # The enum post-processing is drf-spectacular's default; the second documents every 401.
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums",
                             "annotations.api.docs.document_unauthorized"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
