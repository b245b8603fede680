"""LabelHub settings: one module, read from environment variables.

With nothing set you get the embedded development setup: the embedded PostgreSQL under var/postgres
(labelhub/embedded_db.py; `make run` and `make test` start it) and Celery on kombu's filesystem
transport (a worker started by `make run` picks tasks up, no Redis needed). Set DATABASE_URL and
REDIS_URL for another PostgreSQL and Redis. LABELHUB_PROFILE=production turns on
the production profile (DEBUG off, SECRET_KEY required, secure cookies), which passes
`manage.py check --deploy`.
"""

import os
from datetime import timedelta
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
    "axes",
    "csp",
    "annotations",
]

MIDDLEWARE = [
    # First: gives each request its id (X-Request-ID), times it, logs it (LOG_FORMAT=json) and counts it
    # in the latency histogram (METRICS_ENABLED); labelhub/observability.py.
    "labelhub.observability.RequestMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page (429), for the
    # attempts after the tenth failure (annotations/api/authentication.py).
    "annotations.api.authentication.LockoutAfterTheLimitMiddleware",
]
# axes.W002 looks for its middleware by name; ours is that middleware with one override.
SILENCED_SYSTEM_CHECKS = ["axes.W002"]

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
# started by `make run` and `make test`). Connections persist across requests (CONN_MAX_AGE). The
# health check (a `SELECT 1` before a request's first query on a reused connection) is on by default:
# without it, after a PostgreSQL restart or a dropped connection every worker thread answers one 500
# before Django replaces its connection (PRODUCT: "no request answers 500"). DB_HEALTH_CHECKS=false
# saves that round trip where the database never drops connections.
DATABASE_URL = os.environ.get("DATABASE_URL", "") or embedded_db.url(VAR_DIR)
DATABASES = {"default": dj_database_url.parse(
    DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 600), conn_health_checks=env_bool("DB_HEALTH_CHECKS", True)
)}
# A database that does not answer a connection within seconds is down: /readyz says so rather than hang.
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", env_int("DB_CONNECT_TIMEOUT", 3))
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Login throttling (django-axes): after 10 failed attempts for one username from one address, that
# pair is locked out for 15 minutes (PRODUCT, "Operations and limits"): the login page shows the
# lockout page, the token endpoint answers 429. Each try costs a 1,000,000-iteration PBKDF2, so an
# unthrottled login is also a way to exhaust the server. Other usernames and addresses are unaffected.
AUTHENTICATION_BACKENDS = [
    # First: refuses a locked-out pair before the password hash is computed.
    "annotations.api.authentication.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("LABELHUB_LOGIN_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LABELHUB_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Behind N reverse proxies (nginx, a load balancer) set LABELHUB_PROXY_HOPS=N: the address is then read
# from X-Forwarded-For, else every client would share the proxy's address.
LABELHUB_PROXY_HOPS = env_int("LABELHUB_PROXY_HOPS", 0)
AXES_CLIENT_IP_CALLABLE = "annotations.api.authentication.client_address"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # the lockout ends when the window passes
AXES_HTTP_RESPONSE_CODE = 429
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False

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
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
MEDIA_URL = "/media/"


def storage_from_url(url: str) -> dict:
    """STORAGE_URL → the default storage: unset, files under MEDIA_ROOT; `s3://bucket/prefix`, any
    S3-compatible server through django-storages (credentials, region: boto3's usual AWS_* variables;
    AWS_ENDPOINT_URL for MinIO, R2, GCS's S3 interface...). Downloads then redirect to a signed URL
    valid LABELHUB_DOWNLOAD_URL_SECONDS."""
    if not url:
        return {"BACKEND": "django.core.files.storage.FileSystemStorage"}
    scheme, _, rest = url.partition("://")
    bucket, _, prefix = rest.partition("/")
    if scheme != "s3" or not bucket:
        raise ImproperlyConfigured(f"STORAGE_URL must look like s3://bucket/prefix, got {url!r}")
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or None
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": bucket,
            "location": prefix.strip("/"),
            "endpoint_url": endpoint,
            "region_name": os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None,
            # A custom server (MinIO, moto, an IP address) rarely has per-bucket host names.
            "addressing_style": os.environ.get("AWS_S3_ADDRESSING_STYLE") or ("path" if endpoint else None),
            "signature_version": "s3v4",
            "querystring_expire": env_int("LABELHUB_DOWNLOAD_URL_SECONDS", 300),
            "file_overwrite": True,  # names are ours (ids); a retried export replaces its own object
            "default_acl": None,  # private: read only through signed URLs
        },
    }


STORAGE_URL = os.environ.get("STORAGE_URL", "")
# Local storage behind nginx: downloads are handed to the proxy's internal location with this prefix
# (X-Accel-Redirect) once the app has checked permissions. Unset: the app streams the file itself.
LABELHUB_ACCEL_REDIRECT = os.environ.get("LABELHUB_ACCEL_REDIRECT", "")
if LABELHUB_ACCEL_REDIRECT and not (LABELHUB_ACCEL_REDIRECT.startswith("/") and LABELHUB_ACCEL_REDIRECT.endswith("/")):
    raise ImproperlyConfigured(f"LABELHUB_ACCEL_REDIRECT must start and end with /, got {LABELHUB_ACCEL_REDIRECT!r}")
# Where a worker writes an export's files before they are zipped into storage (removed afterwards).
LABELHUB_WORK_DIR = Path(os.environ.get("LABELHUB_WORK_DIR", VAR_DIR / "work"))
STORAGES = {
    "default": storage_from_url(STORAGE_URL),
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
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
# Request bodies other than files: a JSON body over LABELHUB_MAX_JSON_BYTES answers 413 and JSON nested
# deeper than LABELHUB_MAX_JSON_DEPTH answers 400 (annotations/api/parsers.py); a form's fields (not
# its files) over DATA_UPLOAD_MAX_MEMORY_SIZE answer 400 (Django's RequestDataTooBig). The largest
# legitimate form is the instructions (50,000 characters, up to 4 bytes each).
LABELHUB_MAX_JSON_BYTES = env_int("LABELHUB_MAX_JSON_BYTES", 1_000_000)
LABELHUB_MAX_JSON_DEPTH = 64
DATA_UPLOAD_MAX_MEMORY_SIZE = max(LABELHUB_MAX_JSON_BYTES, 1_000_000)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
DATA_UPLOAD_MAX_NUMBER_FILES = 10

# Celery: Redis when REDIS_URL is set; otherwise kombu's filesystem transport under var/celery,
# so that `make run` works with no server installed (it starts a worker beside the web server).
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # With acks_late, Redis hands a message out again when it is not acknowledged within this
        # many seconds, even if its first worker is alive. That second delivery is harmless (the job's
        # lease is fresh, so it does nothing: annotations/leases.py) and no task runs this long
        # (generation works in chunks of GENERATION_CHUNK_SECONDS; exports renew their heartbeat).
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        # Look for such messages every 10 s (kombu's default scans every 100 s).
        "unacked_restore_interval": 10,
        "unacked_restore_throttle": 1,
        # Publishing from a request fails fast when Redis is down (the door answers 503).
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
    }
    CELERY_REDIS_SOCKET_CONNECT_TIMEOUT = 2
    # Sending a task subscribes to its result: with Redis down that, too, must give up quickly.
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
        "retry_policy": {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5},
    }
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
# LOG_FORMAT=json: the worker keeps Django's LOGGING (JSON lines) instead of installing its own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = os.environ.get("LOG_FORMAT", "text") != "json"
# A request that publishes a task must not hang on a dead broker: one quick retry, then the door
# answers 503 and marks the job failed (annotations/publishing.py).
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.5, "interval_max": 0.5}
# Generation and exports each have their own queue and worker (labelhub/run.py, docker-compose.yml),
# so a long generation never keeps exports waiting, nor the reverse. The rest uses "celery".
CELERY_TASK_ROUTES = {
    "annotations.tasks.generate_completions": {"queue": "generation"},
    "annotations.tasks.export_pairs_task": {"queue": "exports"},
}
# The sweep (annotations/leases.py) runs on beat (`worker -B` under `make run`, the beat service in
# compose) and when a worker starts.
CELERY_BEAT_SCHEDULE = {
    "sweep-stale-jobs": {"task": "annotations.tasks.sweep_jobs", "schedule": env_float("JOB_SWEEP_SECONDS", 30.0)},
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# Jobs (exports, generation) are claimed with a lease: the owner renews heartbeat_at every
# JOB_HEARTBEAT_SECONDS; a job whose heartbeat is older than JOB_LEASE_SECONDS is stale, and the
# sweep requeues it (or, after JOB_MAX_ATTEMPTS claims, marks it failed with a message).
JOB_LEASE_SECONDS = env_float("JOB_LEASE_SECONDS", 60.0)
JOB_HEARTBEAT_SECONDS = env_float("JOB_HEARTBEAT_SECONDS", JOB_LEASE_SECONDS / 4)
JOB_MAX_ATTEMPTS = env_int("JOB_MAX_ATTEMPTS", 5)
# A queued job is sent again when no worker has taken it after this long (its message may be lost,
# e.g. with Redis restarted without persistence). A second message for a job is harmless.
JOB_RESEND_QUEUED_SECONDS = env_float("JOB_RESEND_QUEUED_SECONDS", 600.0)
# A generation task stops taking new work after this long and queues the next chunk.
GENERATION_CHUNK_SECONDS = env_float("GENERATION_CHUNK_SECONDS", 300.0)
# Exports a project may have queued or running at once; a further one answers 429.
EXPORTS_MAX_ACTIVE_PER_PROJECT = env_int("EXPORTS_MAX_ACTIVE_PER_PROJECT", 3)
# The model leaderboard of a project with at most this many rankings is fitted in the request (well
# under a second); a larger project's is fitted by a Celery task and the stored result served.
LEADERBOARD_INLINE_MAX_RANKINGS = env_int("LEADERBOARD_INLINE_MAX_RANKINGS", 20_000)
# The same for the quality report (the quality page and the agreement API). A stored report is also
# refreshed when older than QUALITY_REPORT_MAX_AGE_SECONDS: its progress figures change without rankings.
QUALITY_INLINE_MAX_RANKINGS = env_int("QUALITY_INLINE_MAX_RANKINGS", 20_000)
QUALITY_REPORT_MAX_AGE_SECONDS = env_float("QUALITY_REPORT_MAX_AGE_SECONDS", 300.0)
# A stored result's stamp is kept this far before its refresh began, so that a ranking committed
# during the refresh but stamped before it still makes the result stale (annotations/stored_results.py).
STORED_RESULTS_LATE_COMMIT_SECONDS = env_float("STORED_RESULTS_LATE_COMMIT_SECONDS", 30.0)

# LLM generation (OpenAI-compatible server). A project may override each of these.
LLM_BASE_URL = os.environ.get("LLM_BASE_URL", "http://127.0.0.1:8001/v1")
LLM_MODEL = os.environ.get("LLM_MODEL", "")
LLM_API_KEY_ENV = os.environ.get("LLM_API_KEY_ENV", "OPENAI_API_KEY")
LLM_CONCURRENCY = env_int("LLM_CONCURRENCY", 16)
LLM_TIMEOUT_SECONDS = env_int("LLM_TIMEOUT_SECONDS", 60)
LLM_MAX_RETRIES = env_int("LLM_MAX_RETRIES", 5)
LLM_BACKOFF_SECONDS = env_float("LLM_BACKOFF_SECONDS", 1.0)  # first wait before a retry; doubles each time
LLM_MAX_BACKOFF_SECONDS = env_float("LLM_MAX_BACKOFF_SECONDS", 30.0)

# API tokens expire this many hours after they were issued (401 "Token expired", then ask for a new
# one); DELETE /api/auth/token/ revokes one at once.
LABELHUB_TOKEN_TTL_HOURS = env_int("LABELHUB_TOKEN_TTL_HOURS", 24 * 30)

REST_FRAMEWORK = {
    # Token first: an API client's request is then authenticated without touching the session.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "annotations.api.authentication.ExpiringTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON read with a size and a depth bound (annotations/api/parsers.py); forms and uploads as DRF's.
    "DEFAULT_PARSER_CLASSES": [
        "annotations.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
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

# Content-Security-Policy on every response (django-csp): scripts only from this site, never inline,
# so that text an attacker gets onto a page can never run. Styles may be inline: the Django admin and
# Swagger UI set style attributes, and a style cannot run code.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Logs: LOG_FORMAT=json writes every line as one JSON object (labelhub/observability.py), with one
# line per request and per job event and the request id in each; text (the default) is plain lines.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, got {LOG_FORMAT!r}")
LOG_REQUESTS = env_bool("LOG_REQUESTS", LOG_FORMAT == "json")  # a line per request (text: the server logs them)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(levelname)s %(name)s %(message)s"},
        "json": {"()": "labelhub.observability.JsonFormatter"},
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # django-axes logs every successful login at INFO; lockouts (WARNING) are what an operator needs.
    "loggers": {"axes": {"level": "WARNING"}},
}

# Operations: /healthz, /readyz always; /metrics (Prometheus text) with METRICS_ENABLED=true, behind
# `Authorization: Bearer <METRICS_TOKEN>` when that is set. labelhub/health.py, labelhub/metrics.py.
METRICS_ENABLED = env_bool("METRICS_ENABLED", False)
METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    # Probes and scrapes reach the server over plain HTTP from inside the network: no redirect to https.
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
