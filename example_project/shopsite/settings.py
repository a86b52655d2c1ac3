"""Settings of the example shop, read from the environment (and example_project/.env).

Every variable is documented in .env.example at the repository root.
"""

from __future__ import annotations

from pathlib import Path

import environ

PROJECT_DIR = Path(__file__).resolve().parent.parent  # example_project/

env = environ.Env()
# Optional; real environment variables win over the file.
environ.Env.read_env(PROJECT_DIR / ".env")

DEBUG = env.bool("DEBUG", default=True)
SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-secret-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{PROJECT_DIR / 'db.sqlite3'}")}

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_multipay",
    # The gateways' emulators, so the shop takes (pretend) payments with no network.
    "django_multipay.sandbox",
    "shop",
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

ROOT_URLCONF = "shopsite.urls"
WSGI_APPLICATION = "shopsite.wsgi.application"

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
                "shop.context_processors.cart",
            ]
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Where the shop is reachable: return and notify URLs sent to gateways are built on it.
BASE_URL = env.str("BASE_URL", default="http://127.0.0.1:8000")

MULTIPAY = {
    "GATEWAYS": {
        # The test-only dummy gateway, served by django_multipay.sandbox under /sandbox/dummy/.
        # Other gateways (portpos, portwallet, postpay, portone, paylands) are added the same
        # way; see .env.example for their variables.
        "dummy": {
            "BACKEND": "django_multipay.gateways.dummy.DummyGateway",
            "LABEL": "Test card (dummy gateway)",
            "OPTIONS": {
                "api_key": env.str("DUMMY_API_KEY", default="dummy-dev-api-key"),
                "webhook_secret": env.str(
                    "DUMMY_WEBHOOK_SECRET", default="dummy-dev-webhook-secret"
                ),
                "base_url": env.str(
                    "DUMMY_BASE_URL", default="http://127.0.0.1:8000/sandbox/dummy/"
                ),
            },
        },
    },
    "DEFAULT_GATEWAY": "dummy",
    "BASE_URL": BASE_URL,
    # The customer lands on the shop's order page whatever happened; it shows the outcome.
    "SUCCESS_URL": "/orders/{reference}/",
    "FAILURE_URL": "/orders/{reference}/",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "django_multipay": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "shop": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
