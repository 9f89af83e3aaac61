"""NeonChat settings, all from environment variables (see ``.env.example``).

Embedded mode (no variables): SQLite file, in-process Redis stand-in, in-memory
channel layer, notifier in-process. Stack mode: ``DATABASE_URL`` (PostgreSQL),
``REDIS_URL`` and ``NOTIFIER_ADDR``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import environ

from neonchat.config import ConfigError, env

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def _sqlite_path() -> Path:
    return Path(env.str("SQLITE_PATH", default="") or BASE_DIR / "var" / "neonchat.sqlite3")


def _generated_secret(path: Path) -> str:
    """The instance's own random JWT secret, made on first start and kept in ``path``.

    Without ``JWT_SECRET`` (development, embedded mode) a constant in the code
    would let anyone who read the repository mint tokens for any user of an
    instance that others can reach. The file lives beside the SQLite database,
    so tokens survive restarts like the data does. Processes starting at once
    (``make stack``) agree: each writes a candidate and links it into place;
    the first link wins and everyone reads the winner.
    """
    try:
        if not path.is_file():
            path.parent.mkdir(parents=True, exist_ok=True)
            candidate = path.with_name(f".{path.name}.{os.getpid()}")
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(48) + "\n")
            with contextlib.suppress(FileExistsError):
                os.link(candidate, path)
            candidate.unlink()
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise ConfigError(f"JWT_SECRET is not set and {path} cannot be created or read: {error}") from None
    if len(secret.encode()) < 32:
        raise ConfigError(f"JWT_SECRET is not set and {path} holds no usable secret (delete it to make a new one)")
    return secret


def _database(url: str, max_conns: int, prepare_threshold: int | None) -> dict[str, Any]:
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(_sqlite_path()),
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    db: dict[str, Any] = environ.Env.db_url_config(url)
    if db["ENGINE"] != "django.db.backends.postgresql":
        raise ConfigError(f"DATABASE_URL must be a postgres:// URL, got scheme of {url.split(':', maxsplit=1)[0]!r}")
    # Django 5.1+ psycopg pool: the right pooling for ASGI (no CONN_MAX_AGE).
    db["CONN_MAX_AGE"] = 0
    db["OPTIONS"] = {
        "connect_timeout": 5,
        "pool": {"min_size": 1, "max_size": max_conns, "timeout": 10, "max_idle": 300},
        # Only NeonChat's fixed read statements are bound on the server (neonchat/db.py); the ORM's
        # cursors bind on the client, which never prepares.
        "prepare_threshold": prepare_threshold,
    }
    return db


env.read_dotenv(BASE_DIR / ".env")
APP_ENV = env.choice("APP_ENV", "development", ("development", "production", "test"))
PRODUCTION = APP_ENV == "production"
DEBUG: bool = env.bool("DEBUG", default=False)
JWT_SECRET: str = env.str("JWT_SECRET", default="")
if PRODUCTION and len(JWT_SECRET.encode()) < 32:
    raise ConfigError("JWT_SECRET must be set to at least 32 bytes in production")
JWT_SECRET = JWT_SECRET or _generated_secret(_sqlite_path().parent / "jwt-secret")
SECRET_KEY: str = env.str("SECRET_KEY", default="") or JWT_SECRET
JWT_EXPIRE_HOURS = env.int_in("JWT_EXPIRE_HOURS", 24, minimum=1, maximum=24 * 30)
ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", cast=str.strip, default=[])
if PRODUCTION and (not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS):
    raise ConfigError("ALLOWED_HOSTS must list the served host names (not *) in production")
ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]
CORS_ALLOWED_ORIGINS: list[str] = env.list("CORS_ALLOWED_ORIGINS", cast=str.strip, default=[])
DATABASE_URL = env.url_of("DATABASE_URL", ("postgres", "postgresql", "pgsql"))
DB_MAX_CONNS = env.int_in("DB_MAX_CONNS", 20, minimum=1, maximum=1000)
# Server-side prepared statements for the fixed SQL statements (the send path's, the chat list's,
# the history page's): planned once per connection, not per execution. Off for a PgBouncer in
# transaction mode older than 1.21 (docs/scaling.md).
DB_PREPARED_STATEMENTS: bool = env.bool("DB_PREPARED_STATEMENTS", default=True)
# Executions of a statement on one connection before psycopg prepares it (psycopg's default).
DB_PREPARE_THRESHOLD = 5 if DB_PREPARED_STATEMENTS else None
# Threads for ORM work from async code (1 = Channels' single thread); see neonchat/db.py.
DB_THREADS = env.int_in("DB_THREADS", 8, minimum=1, maximum=64)
# Connections of the gateway's WebSocket send path (group commits in flight at once).
# One group commit in flight per gateway process by default (docs/performance.md, "one batch in flight").
DB_SEND_CONNECTIONS = env.int_in("DB_SEND_CONNECTIONS", 1, minimum=1, maximum=64)
# Threads that run HTTP requests' sync code (views, sync middleware); see neonchat/handlers.py.
# Two: one computes while the other waits on Redis or PostgreSQL; more only contend for the
# interpreter lock (docs/performance.md, "REST: two request threads").
REQUEST_THREADS = env.int_in("REQUEST_THREADS", 2, minimum=1, maximum=256)
REDIS_URL = env.url_of("REDIS_URL", ("redis", "rediss", "unix"))
CHANNEL_LAYER_PREFIX: str = env.str("CHANNEL_LAYER_PREFIX", default="neonchat")
# Redis instances the channel layer shards over (default: REDIS_URL alone).
CHANNEL_LAYER_HOSTS: list[str] = env.list(
    "CHANNEL_LAYER_HOSTS", cast=str.strip, default=[REDIS_URL] if REDIS_URL else []
)
NOTIFIER_ADDR: str = env.str("NOTIFIER_ADDR", default="") or env.str("NOTIFICATION_SERVICE_ADDR", default="")
NOTIFIER_LISTEN: str = env.str("NOTIFIER_LISTEN", default="0.0.0.0:8081")
# The gateway's WebSocket URL as browsers reach it, served to the web client (empty: the page's origin).
PUBLIC_WS_URL = env.url_of("PUBLIC_WS_URL", ("ws", "wss"))
NOTIFIER_METRICS_PORT = env.int_in("NOTIFIER_METRICS_PORT", 9081, minimum=0, maximum=65535)
GRPC_TIMEOUT = env.duration("GRPC_TIMEOUT", 2.0, minimum=0.01)
GRPC_MAX_RETRIES = env.int_in("GRPC_MAX_RETRIES", 3, minimum=1, maximum=5)
RATE_LIMIT_PER_MINUTE = env.int_in("RATE_LIMIT_PER_MINUTE", 100, minimum=1)
LOGIN_RATE_LIMIT_PER_MINUTE = env.int_in("LOGIN_RATE_LIMIT_PER_MINUTE", 20, minimum=1)
WS_MESSAGES_PER_SECOND = env.int_in("WS_MESSAGES_PER_SECOND", 20, minimum=1)
# typing, read, ping and presence frames, per user and type (messaging.consumers.FRAME_RATES).
WS_FRAMES_PER_SECOND = env.int_in("WS_FRAMES_PER_SECOND", 5, minimum=1)
WS_MAX_CONNECTIONS = env.int_in("WS_MAX_CONNECTIONS", 10000, minimum=1)
# Sockets one account may hold, counted across every gateway (presence set in Redis).
WS_MAX_CONNECTIONS_PER_USER = env.int_in("WS_MAX_CONNECTIONS_PER_USER", 32, minimum=1)
WS_HEARTBEAT_INTERVAL = env.duration("WS_HEARTBEAT_INTERVAL", 30.0, minimum=0.05)
WS_READ_TIMEOUT = env.duration("WS_READ_TIMEOUT", 60.0, minimum=0.1)
WS_WRITE_TIMEOUT = env.duration("WS_WRITE_TIMEOUT", 10.0, minimum=0.1)
# Upper bound of one search's database time (statement_timeout); past it, 503 search_timeout.
SEARCH_TIMEOUT = env.duration("SEARCH_TIMEOUT", 3.0, minimum=0.01)
PRESENCE_TTL = env.int_in("PRESENCE_TTL", 65, minimum=1)
TYPING_TTL = env.duration("TYPING_TTL", 6.0, minimum=0.1)
# Bounds on reading one HTTP request (and a WebSocket handshake): see neonchat/httpguard.py.
HTTP_MAX_HEADER_BYTES = env.int_in("HTTP_MAX_HEADER_BYTES", 16 * 1024, minimum=1024)
HTTP_REQUEST_TIMEOUT = env.duration("HTTP_REQUEST_TIMEOUT", 10.0, minimum=0.1)
SHUTDOWN_GRACE = env.duration("SHUTDOWN_GRACE", 10.0, minimum=0.0)
SHUTDOWN_DRAIN = env.duration("SHUTDOWN_DRAIN", 0.5, minimum=0.0)
# Processes of one api (``serve --role api``): one per core this process may run on; docs/scaling.md.
API_WORKERS = env.int_in("API_WORKERS", len(os.sched_getaffinity(0)), minimum=1, maximum=64)
# Processes of one gateway (``serve --role gateway``) on its port, each its own event loop and
# send path (like the gateways of make cluster); docs/performance.md measures 1 against 2.
GATEWAY_WORKERS = env.int_in("GATEWAY_WORKERS", 1, minimum=1, maximum=64)
# With several workers prometheus_client keeps metrics as files there (multiprocess mode), from
# the first metric created at import: the directory must exist before the apps load.
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    Path(os.environ["PROMETHEUS_MULTIPROC_DIR"]).mkdir(parents=True, exist_ok=True)
LOG_LEVEL = env.choice("LOG_LEVEL", "info", ("debug", "info", "warning", "error")).upper()
LOG_FORMAT = env.choice("LOG_FORMAT", "json", ("json", "text"))
PASSWORD_BCRYPT_ROUNDS = env.int_in("PASSWORD_BCRYPT_ROUNDS", 12, minimum=4, maximum=16)
TRUSTED_PROXIES: list[str] = env.list("TRUSTED_PROXIES", cast=str.strip, default=[])
SECURE_SSL_REDIRECT: bool = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
DATABASES = {"default": _database(DATABASE_URL, DB_MAX_CONNS, DB_PREPARE_THRESHOLD)}
EMBEDDED_DATABASE = not DATABASE_URL
with contextlib.suppress(OSError):  # a read-only image: collectstatic ran at build time
    (BASE_DIR / "var" / "static").mkdir(parents=True, exist_ok=True)

# No "daphne" app: it only replaces `runserver` (we serve with `manage.py serve`)
# and importing it loads Twisted into every process, a third of the start-up
# time, which is what a restarted process makes its clients wait for.
INSTALLED_APPS = [
    "neonchat.adminsite.NeonChatAdminConfig",  # django.contrib.admin with a throttled login
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_prometheus",
    "channels",
    "neonchat",
    "accounts",
    "chats",
    "messaging",
    "presence",
    "notifier",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "neonchat.observability.RequestIdMiddleware",
    "neonchat.rest.BodySizeLimitMiddleware",
    "neonchat.slashes.TrailingSlashMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    # Browser surfaces only (admin, browsable API, Swagger UI, web client):
    # JSON API requests skip these (neonchat/surfaces.py).
    "neonchat.surfaces.SessionMiddleware",
    "neonchat.surfaces.CsrfViewMiddleware",
    "neonchat.surfaces.AuthenticationMiddleware",
    "neonchat.surfaces.MessageMiddleware",
    "neonchat.surfaces.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "neonchat.urls"
ASGI_APPLICATION = "neonchat.asgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Trailing-slash redirects (both directions, GET/HEAD only): neonchat/slashes.py.
APPEND_SLASH = False
LOGIN_URL = "/api-auth/login/"
LOGIN_REDIRECT_URL = "/api/v1/"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

PASSWORD_HASHERS = [
    "accounts.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 6}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_MAX_LENGTH = 1024
# Usernames are unique case-insensitively (a functional unique index), which
# is stricter than the plain unique=True this check asks for.
SILENCED_SYSTEM_CHECKS = ["auth.E003"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"
STATICFILES_DIRS = [BASE_DIR / "web"]
# Static files (admin, Swagger UI, the web client) served by ServeStatic on the
# event loop in front of Django (neonchat/staticfiles.py), also without
# collectstatic in embedded mode.
SERVESTATIC_USE_FINDERS = True
SERVESTATIC_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024

CORS_URLS_REGEX = r"^/api/.*$"
CSRF_TRUSTED_ORIGINS = CORS_ALLOWED_ORIGINS

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_REDIRECT_EXEMPT = [r"^health/", r"^metrics$"]
    SECURE_HSTS_SECONDS = 31536000
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"

REST_FRAMEWORK = {
    # Bearer for every client; a session only for the browsable API's HTML pages.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.BrowsableAPISessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_THROTTLE_CLASSES": ["neonchat.ratelimit.UserRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": [
        "neonchat.renderers.ORJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "neonchat.renderers.JSONFirstNegotiation",
    "DEFAULT_PARSER_CLASSES": ["neonchat.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "neonchat.rest.drf_exception_handler",
    "UNAUTHENTICATED_USER": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "NeonChat API",
    "DESCRIPTION": "REST API of the NeonChat messenger. WebSocket protocol: see README.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "COMPONENT_SPLIT_PATCH": False,  # PATCH bodies have required fields too (text)
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True},
    # Swagger UI assets are served locally (no CDN needed).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_AUTHENTICATION": [],
    # The contract's scheme only: the browsable API's session is not for API clients.
    "AUTHENTICATION_WHITELIST": [
        "accounts.authentication.BearerTokenAuthentication",
        "accounts.authentication.BearerProfileAuthentication",
    ],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}

SIMPLE_JWT: dict[str, Any] = {
    "ACCESS_TOKEN_LIFETIME": timedelta(hours=JWT_EXPIRE_HOURS),
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SECRET,
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Pub/sub: measured against the list-based core layer in docs/performance.md
            # (that comparison's switch is in bench/settings.py).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": CHANNEL_LAYER_HOSTS,
                "prefix": CHANNEL_LAYER_PREFIX,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 1000}}}

PROMETHEUS_EXPORT_MIGRATIONS = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "neonchat.observability.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "neonchat.observability.JsonFormatter",
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        "uvicorn.access": {"level": "WARNING"},
        "django.channels.server": {"level": "WARNING"},
        "grpc": {"level": "WARNING"},
        "asyncio": {"level": "WARNING"},
    },
}
