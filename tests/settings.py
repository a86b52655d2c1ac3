"""Settings for the test suite: SQLite by default, PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

import environ

env = environ.Env()

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

DATABASES = {"default": env.db("DATABASE_URL", default="sqlite:///:memory:")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A named in-memory database is what live-server and threaded tests share.
    DATABASES["default"].setdefault(
        "TEST", {"NAME": "file:multipay-tests?mode=memory&cache=shared"}
    )
else:
    # Parallel runs against one server (tox, several checkouts) each need their own name.
    DATABASES["default"].setdefault("TEST", {"NAME": env("TEST_DB_NAME", default="test_multipay")})

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django_multipay",
    "django_multipay.sandbox",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

MULTIPAY = {
    "GATEWAYS": {
        "dummy": {
            "BACKEND": "django_multipay.gateways.dummy.DummyGateway",
            "OPTIONS": {
                "api_key": "dummy-api-key-one",
                "webhook_secret": "dummy-webhook-secret-one",
                "base_url": "http://testserver/sandbox/dummy/",
            },
        },
        "dummy-manual": {
            "BACKEND": "django_multipay.gateways.dummy.DummyGateway",
            "OPTIONS": {
                "api_key": "dummy-api-key-two",
                "webhook_secret": "dummy-webhook-secret-two",
                "base_url": "http://testserver/sandbox/dummy/",
                "capture": "manual",
            },
        },
    },
    "DEFAULT_GATEWAY": "dummy",
    "SUCCESS_URL": "/shop/thanks/{reference}/",
    "FAILURE_URL": "/shop/failed/{reference}/",
    "BASE_URL": "http://testserver",
    "HTTP_TIMEOUT": (2.0, 5.0),
    "HTTP_RETRIES": 0,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"null": {"class": "logging.NullHandler"}},
    "loggers": {"django_multipay": {"handlers": ["null"], "level": "DEBUG", "propagate": True}},
}

# The test runner forces DEBUG=False; the dummy gateway is exactly what tests are for.
SILENCED_SYSTEM_CHECKS = ["multipay.E005"]
