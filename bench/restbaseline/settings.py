"""``startproject``'s settings plus what the DRF and simplejwt tutorials add, over NeonChat's database.

``BASELINE_DATABASE_URL``: the PostgreSQL database NeonChat's stack uses.
``BASELINE_DB_POOL=1``: Django 5.1's psycopg pool (one line a careful developer
adds; the default, as in ``startproject``, is a new connection per request).
"""

import os
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent

SECRET_KEY = os.environ.get("BASELINE_SECRET_KEY", "rest-baseline-benchmark-only-not-a-secret-0123456789")
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "bench.restbaseline",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bench.restbaseline.urls"
ASGI_APPLICATION = "bench.restbaseline.asgi.application"

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

DATABASES = {
    "default": environ.Env.db_url_config(
        os.environ.get("BASELINE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/neonchat_bench")
    )
}
if os.environ.get("BASELINE_DB_POOL") == "1":
    DATABASES["default"]["OPTIONS"] = {"pool": True}

AUTH_USER_MODEL = "restbaseline.User"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["rest_framework_simplejwt.authentication.JWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 20,
}
# simplejwt's default access lifetime is 5 minutes; one bench run takes longer.
SIMPLE_JWT = {"ACCESS_TOKEN_LIFETIME": timedelta(hours=2)}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
