"""Settings for the benchmarks: PostgreSQL, DEBUG off, quiet logs, dummy and PortPos gateways."""

from __future__ import annotations

import importlib.util

import environ

env = environ.Env()

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"

# A database of its own: every run drops and recreates it.
DATABASES = {
    "default": env.db(
        "BENCH_DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/multipay_bench"
    )
}
DATABASES["default"]["CONN_MAX_AGE"] = None  # one connection per worker, as in production

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "django_multipay",
    "django_multipay.sandbox",
]
# Django's default stack: what a shop runs, for our views and the floor alike.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]
ROOT_URLCONF = "bench.urls"
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
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}

# Where the emulators answer: a process of their own, started by the benchmark.
EMULATOR_URL = env("BENCH_EMULATOR_URL", default="http://127.0.0.1:8031/")

MULTIPAY = {
    "GATEWAYS": {
        # Signed notifications whose signature covers status and amount are taken as they
        # stand (no read-back): the path the throughput figures measure.
        "dummy": {
            "BACKEND": "django_multipay.gateways.dummy.DummyGateway",
            "OPTIONS": {
                "api_key": "bench-dummy-api-key",
                "webhook_secret": "bench-dummy-webhook-secret",
                "base_url": f"{EMULATOR_URL}sandbox/dummy/",
                "trust_signed_notifications": True,
            },
        },
        # The same account, reading every notification back from the emulator.
        "dummy-readback": {
            "BACKEND": "django_multipay.gateways.dummy.DummyGateway",
            "OPTIONS": {
                "api_key": "bench-dummy-api-key",
                "webhook_secret": "bench-dummy-webhook-secret",
                "base_url": f"{EMULATOR_URL}sandbox/dummy/",
            },
        },
        "portpos": {
            "BACKEND": "django_multipay.gateways.portpos.PortPosGateway",
            "OPTIONS": {
                "app_key": "bench-portpos-app-key",
                "secret_key": "bench-portpos-secret-key",
                "sandbox": True,
                "base_url": f"{EMULATOR_URL}sandbox/portpos/",
            },
        },
    },
    "DEFAULT_GATEWAY": "dummy",
    "BASE_URL": "http://127.0.0.1:8030",
    "HTTP_RETRIES": 0,
    # DEBUG is off, as in production; the dummy gateway and its emulator are what the
    # benchmark runs on, so the test-only parts are let in deliberately.
    "ALLOW_TEST_GATEWAYS": True,
}

# The deferred measurement (bench/deferred.py) runs the app with DEFER_NOTIFICATIONS: the
# notify view stores and enqueues; a real worker (django-tasks-db's db_worker) verifies at
# the gateway and applies. The database backend's tables are migrated in every run.
# "django_tasks" is the Django 5.2 backport's app; Django 6's django.tasks needs none.
if importlib.util.find_spec("django_tasks_db") is not None:
    INSTALLED_APPS += [
        app for app in ("django_tasks", "django_tasks_db") if importlib.util.find_spec(app)
    ]
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
MULTIPAY["DEFER_NOTIFICATIONS"] = env.bool("BENCH_DEFER_NOTIFICATIONS", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}

# Sandbox mode and the dummy gateway are what the benchmark runs on.
SILENCED_SYSTEM_CHECKS = ["multipay.W001"]
