"""Settings of the example shop, read from the environment (and example_project/.env).

Every variable is documented in .env.example at the repository root.
"""

from __future__ import annotations

import sys
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
    # The visitor's language: the switch in the shop's header (Django's set_language), else
    # the browser's Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
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

LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en-us")
# The languages django-multipay ships: its pay page, admin and API answer in each.
LANGUAGES = [
    ("en", "English"),
    ("bn", "বাংলা"),
    ("ar", "العربية"),
    ("es", "Español"),
    ("pt", "Português"),
]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _url_of(addr: str) -> str:
    """The URL a browser and the emulators reach ``runserver ADDR`` at (``host:port`` or a port)."""
    host, sep, port = addr.rpartition(":")
    if not sep:
        host, port = "", addr
    # Listening on every interface: this machine still answers on its loopback address.
    loopback = {"": "127.0.0.1", "0": "127.0.0.1", "0.0.0.0": "127.0.0.1", "[::]": "[::1]"}  # noqa: S104
    host = loopback.get(host, host)
    return f"http://{host}:{port}"


def _runserver_addr() -> str:
    """The address ``manage.py runserver ADDR`` was given, or "" when that is not what runs."""
    if "runserver" not in sys.argv:
        return ""
    given = [a for a in sys.argv[sys.argv.index("runserver") + 1 :] if not a.startswith("-")]
    return given[0] if given else ""


# Where the shop is served: `make demo DEMO_ADDR=127.0.0.1:8001` (which passes it on), or the
# address `runserver` was given.
DEMO_ADDR = _runserver_addr() or env.str("DEMO_ADDR", default="127.0.0.1:8000")
# Where the shop is reachable: return and notify URLs sent to gateways, and every emulator's
# address below, are built on it. Set it when the shop is reached through another name (a
# proxy, HTTPS); otherwise it follows DEMO_ADDR.
BASE_URL = env.str("BASE_URL", default="") or _url_of(DEMO_ADDR)
# The built-in emulators, served by this shop under /sandbox/ (shopsite/urls.py).
SANDBOX_URL = BASE_URL.rstrip("/") + "/sandbox/"

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
                "base_url": env.str("DUMMY_BASE_URL", default=f"{SANDBOX_URL}dummy/"),
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

# Paylands / Payshop POP (EUR): the card payment page, and Payshop references paid in cash at
# an agent. Without credentials both use the built-in emulator under /sandbox/paylands/.
_PAYLANDS_KEY = env.str("PAYLANDS_API_KEY", default="")
_PAYLANDS = {
    "api_key": _PAYLANDS_KEY or "paylands-dev-api-key",
    "signature": env.str("PAYLANDS_SIGNATURE", default="paylands-dev-signature"),
    "sandbox": env.bool("PAYLANDS_SANDBOX", default=True),
    "base_url": env.str(
        "PAYLANDS_BASE_URL",
        # The emulator is served by the shop itself.
        default="" if _PAYLANDS_KEY else f"{SANDBOX_URL}paylands/",
    )
    or None,
}
MULTIPAY["GATEWAYS"]["paylands"] = {
    "BACKEND": "django_multipay.gateways.paylands.PaylandsGateway",
    "LABEL": "Card (Paylands)",
    "OPTIONS": {
        **_PAYLANDS,
        "service": env.str("PAYLANDS_SERVICE", default="paylands-dev-card-service"),
    },
}
MULTIPAY["GATEWAYS"]["paylands-payshop"] = {
    "BACKEND": "django_multipay.gateways.paylands.PaylandsGateway",
    "LABEL": "Payshop reference (Paylands)",
    "OPTIONS": {
        **_PAYLANDS,
        "service": env.str("PAYLANDS_PAYSHOP_SERVICE", default="paylands-dev-payshop-service"),
        "apm": "PAYSHOP",
        "apms": ["PAYSHOP"],
        "reference_valid_days": 3,
    },
}

# PortPos (API v2), in BDT: on the built-in emulator (/sandbox/portpos/) until PORTPOS_APP_KEY
# and PORTPOS_SECRET_KEY are set, then on PortPos's sandbox (PORTPOS_SANDBOX=False for live).
_PORTPOS_KEY = env.str("PORTPOS_APP_KEY", default="")
MULTIPAY["GATEWAYS"]["portpos"] = {
    "BACKEND": "django_multipay.gateways.portpos.PortPosGateway",
    "LABEL": "PortPos (cards, mobile banking)",
    "OPTIONS": {
        "app_key": _PORTPOS_KEY or "portpos-dev-app-key",
        "secret_key": env.str("PORTPOS_SECRET_KEY", default="") or "portpos-dev-secret-key",
        "sandbox": env.bool("PORTPOS_SANDBOX", default=True),
        "base_url": env.str(
            "PORTPOS_BASE_URL",
            default="" if _PORTPOS_KEY else f"{SANDBOX_URL}portpos/",
        )
        or None,
        "validity": env.int("PORTPOS_VALIDITY", default=3600),
        # PortPos requires a state; the demo's checkout leaves it optional.
        "defaults": {"state": env.str("PORTPOS_DEFAULT_STATE", default="N/A")},
    },
}

# PortOne Global (api.portone.cloud). Without credentials it runs against the built-in
# emulator under /sandbox/portone/; with them, against PortOne in its sandbox environment.
# Without a channel the customer chooses on PortOne's own checkout page (a payment link).
_PORTONE_LIVE = bool(env.str("PORTONE_CLIENT_KEY", default=""))
MULTIPAY["GATEWAYS"]["portone"] = {
    "BACKEND": "django_multipay.gateways.portone.PortOneGateway",
    "LABEL": "PortOne (cards and wallets)",
    "OPTIONS": {
        "client_key": env.str("PORTONE_CLIENT_KEY", default="portone-dev-client-key"),
        "secret_key": env.str(
            "PORTONE_SECRET_KEY", default="portone-dev-secret-key-0123456789abcdef"
        ),
        "environment": env.str("PORTONE_ENVIRONMENT", default="sandbox"),
        "pmt_channel": env.str("PORTONE_CHANNEL", default=""),
        "pmt_method": env.str("PORTONE_METHOD", default=""),
        "transaction_type": env.str("PORTONE_TRANSACTION_TYPE", default="PURCHASE"),
        "country_code": env.str("PORTONE_COUNTRY_CODE", default="BD"),
        "merchant_name": "django-multipay demo shop",
        "base_url": env.str(
            "PORTONE_BASE_URL",
            default=None if _PORTONE_LIVE else f"{SANDBOX_URL}portone/",
        ),
    },
}

# The REST API under /api/ (with its OpenAPI schema, Swagger UI and ReDoc), when the
# "api" extra is installed: pip install "django-multipay[api]".
try:
    import rest_framework  # noqa: F401
except ImportError:  # pragma: no cover - the shop still works without the API
    API_ENABLED = False
else:
    API_ENABLED = True
    INSTALLED_APPS += [
        "rest_framework",
        "rest_framework.authtoken",
        "django_filters",
        "drf_spectacular",
    ]
    REST_FRAMEWORK = {
        # Apps send "Authorization: Token <key>" (create one in the admin, or with
        # `manage.py drf_create_token <username>`); the browser pages use the login session.
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "rest_framework.authentication.TokenAuthentication",
            "rest_framework.authentication.SessionAuthentication",
        ],
        "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    }
    SPECTACULAR_SETTINGS = {
        "TITLE": "Example shop payments API",
        "DESCRIPTION": "django-multipay's REST API as the example shop mounts it.",
        "VERSION": "1",
        "SERVE_INCLUDE_SCHEMA": False,
        "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
        "SCHEMA_PATH_PREFIX": "/api/",
    }

# PortWallet (legacy API v1), BDT only, 10.00 minimum: on the built-in emulator
# (/sandbox/portwallet/) until PORTWALLET_APP_KEY and PORTWALLET_SECRET_KEY are set, then on
# PortWallet's sandbox (PORTWALLET_SANDBOX=False for live).
_PORTWALLET_KEY = env.str("PORTWALLET_APP_KEY", default="")
MULTIPAY["GATEWAYS"]["portwallet"] = {
    "BACKEND": "django_multipay.gateways.portwallet.PortWalletGateway",
    "LABEL": "PortWallet (BDT)",
    "OPTIONS": {
        "app_key": _PORTWALLET_KEY or "portwallet-dev-app-key",
        "secret_key": env.str("PORTWALLET_SECRET_KEY", default="") or "portwallet-dev-secret-key",
        "sandbox": env.bool("PORTWALLET_SANDBOX", default=True),
        "base_url": env.str(
            "PORTWALLET_BASE_URL",
            default="" if _PORTWALLET_KEY else f"{SANDBOX_URL}portwallet/",
        )
        or None,
        # Where customers pay: its own address, never derived from base_url (unset: the
        # documented payment-sandbox / payment.portwallet.com page, by PORTWALLET_SANDBOX).
        "payment_url": env.str(
            "PORTWALLET_PAYMENT_URL",
            default="" if _PORTWALLET_KEY else f"{SANDBOX_URL}portwallet/payment/",
        )
        or None,
        # PortWallet requires a phone number; the demo's checkout leaves it optional, so the
        # emulator gets a placeholder (never sent to PortWallet itself unless configured).
        "defaults": {
            "phone": env.str(
                "PORTWALLET_DEFAULT_PHONE", default="" if _PORTWALLET_KEY else "+8801000000000"
            )
        },
    },
}

# Postpay (buy now, pay later), AED: on the built-in emulator (/sandbox/postpay/) until
# POSTPAY_MERCHANT_ID and POSTPAY_SECRET_KEY are set, then on Postpay's sandbox
# (POSTPAY_SANDBOX=False for live). Register the webhook with
# `manage.py multipay_postpay_hooks create` (optional: the customer's return captures).
_POSTPAY_MERCHANT = env.str("POSTPAY_MERCHANT_ID", default="")
MULTIPAY["GATEWAYS"]["postpay"] = {
    "BACKEND": "django_multipay.gateways.postpay.PostpayGateway",
    "LABEL": "Postpay: pay later in instalments (AED)",
    "OPTIONS": {
        "merchant_id": _POSTPAY_MERCHANT or "id_postpay_dev",
        "secret_key": env.str("POSTPAY_SECRET_KEY", default="") or "sk_test_postpay_dev",
        "webhook_secret": env.str("POSTPAY_WEBHOOK_SECRET", default="postpay-dev-hook-secret"),
        "sandbox": env.bool("POSTPAY_SANDBOX", default=True),
        "base_url": env.str(
            "POSTPAY_BASE_URL",
            # The emulator in this very shop.
            default="" if _POSTPAY_MERCHANT else f"{SANDBOX_URL}postpay/",
        )
        or None,
    },
}

# Served by `runserver` with Postpay on its emulator, the shop registers its webhook there once
# the server answers (shop/hooks.py), as `manage.py multipay_postpay_hooks create` does against
# Postpay itself. The emulator keeps its state in memory, so each server start registers anew.
DEMO_POSTPAY_HOOK = env.bool(
    "DEMO_POSTPAY_HOOK", default=DEBUG and not _POSTPAY_MERCHANT and "runserver" in sys.argv
)
