"""Settings for the test suite: SQLite by default, PostgreSQL when DATABASE_URL says so."""

from __future__ import annotations

import importlib.util

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
elif env.str("TEST_DB_NAME", default=""):
    # Otherwise Django's own test_<NAME>: runs against different databases of one server
    # (several checkouts, tox environments) never share a test database.
    DATABASES["default"].setdefault("TEST", {"NAME": env.str("TEST_DB_NAME")})

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
    # As a shop serving several languages would: Accept-Language picks the language.
    "django.middleware.locale.LocaleMiddleware",
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

# The test runner forces DEBUG=False; the dummy gateway, the emulators and sandbox modes are
# what tests are for. The opt-in lets the test-only parts run (and so E005 does not apply).
MULTIPAY["ALLOW_TEST_GATEWAYS"] = True
SILENCED_SYSTEM_CHECKS = ["multipay.W001"]

# PortOne: a channel alias, a PREAUTH alias and a payment-link (PortOne checkout) alias.
MULTIPAY["GATEWAYS"]["portone"] = {
    "BACKEND": "django_multipay.gateways.portone.PortOneGateway",
    "OPTIONS": {
        "client_key": "portone-client-key-one",
        "secret_key": "portone-secret-key-one-0123456789abcdef0123",
        "environment": "sandbox",
        "pmt_channel": "STRIPE",
        "pmt_method": "STRIPE_CARD",
        "base_url": "http://testserver/sandbox/portone/",
    },
}
MULTIPAY["GATEWAYS"]["portone-preauth"] = {
    "BACKEND": "django_multipay.gateways.portone.PortOneGateway",
    "OPTIONS": {
        "client_key": "portone-client-key-two",
        "secret_key": "portone-secret-key-two-0123456789abcdef0123",
        "environment": "sandbox",
        "pmt_channel": "STRIPE",
        "pmt_method": "STRIPE_CARD",
        "transaction_type": "PREAUTH",
        "base_url": "http://testserver/sandbox/portone/",
    },
}
MULTIPAY["GATEWAYS"]["portone-link"] = {
    "BACKEND": "django_multipay.gateways.portone.PortOneGateway",
    "OPTIONS": {
        "client_key": "portone-client-key-three",
        "secret_key": "portone-secret-key-three-0123456789abcdef0123",
        "environment": "sandbox",
        "country_code": "SG",
        "merchant_name": "Test shop",
        "base_url": "http://testserver/sandbox/portone/",
    },
}

# PortWallet (API v1), served in-process by django_multipay.sandbox.portwallet.
MULTIPAY["GATEWAYS"]["portwallet"] = {
    "BACKEND": "django_multipay.gateways.portwallet.PortWalletGateway",
    "OPTIONS": {
        "app_key": "9c41cf8bce319cc6300cc2c4e9ef7c8f",
        "secret_key": "portwallet-test-secret",
        "sandbox": True,
        "base_url": "http://testserver/sandbox/portwallet/",
    },
}

# Postpay, served in-process by django_multipay.sandbox.postpay.
MULTIPAY["GATEWAYS"]["postpay"] = {
    "BACKEND": "django_multipay.gateways.postpay.PostpayGateway",
    "OPTIONS": {
        "merchant_id": "id_postpay_test_one",
        "secret_key": "sk_test_postpay_secret_one",
        "webhook_secret": "postpay-hook-secret-one",
        "sandbox": True,
        "base_url": "http://testserver/sandbox/postpay/",
    },
}

# The REST API documents itself with drf-spectacular (used only when DRF is installed).
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}

# PortPos (API v2), served by its emulator under /sandbox/portpos/.
MULTIPAY["GATEWAYS"]["portpos"] = {
    "BACKEND": "django_multipay.gateways.portpos.PortPosGateway",
    "OPTIONS": {
        "app_key": "portpos-app-key-one",
        "secret_key": "portpos-secret-key-one",
        "sandbox": True,
        "base_url": "http://testserver/sandbox/portpos/",
    },
}

# Paylands: a card account, and a second account holding DEFERRED payments (Bearer auth).
MULTIPAY["GATEWAYS"]["paylands"] = {
    "BACKEND": "django_multipay.gateways.paylands.PaylandsGateway",
    "OPTIONS": {
        "api_key": "paylands-api-key-one",
        "signature": "paylands-signature-one",
        "service": "B1F13B01-BA97-491C-BBDE-1C18988BD229",
        "base_url": "http://testserver/sandbox/paylands/",
        "rate_limit_backoff": 0,
    },
}
MULTIPAY["GATEWAYS"]["paylands-deferred"] = {
    "BACKEND": "django_multipay.gateways.paylands.PaylandsGateway",
    "OPTIONS": {
        "api_key": "paylands-api-key-two",
        "signature": "paylands-signature-two",
        "services": {"EUR": "0E6B6F0C-5D0B-4A4E-9C55-2E1B7C0F9A11"},
        "operative": "DEFERRED",
        "auth": "bearer",
        "base_url": "http://testserver/sandbox/paylands/",
    },
}

# The database task backend's tables, for the real-worker test in tests/test_tasks.py (the
# default backend stays the immediate one). "django_tasks" is the Django 5.2 backport's app;
# Django 6's django.tasks needs none, and the backport is not installed there.
if importlib.util.find_spec("django_tasks_db") is not None:
    INSTALLED_APPS += [
        app for app in ("django_tasks", "django_tasks_db") if importlib.util.find_spec(app)
    ]
