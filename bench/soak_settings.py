"""The example shop's settings as the soak runs them: DEBUG off, gateways behind the fault proxy."""

from __future__ import annotations

import os

from shopsite.settings import *  # noqa: F403
from shopsite.settings import LOGGING, MULTIPAY, SANDBOX_URL

# The shop runs as in production. The emulators' process (SOAK_ROLE=emulator) is this same
# project with DEBUG on, which is what mounts them under /sandbox/ (shopsite/urls.py).
DEBUG = os.environ.get("SOAK_ROLE") == "emulator"
# The shop's every gateway call goes to the fault-injecting proxy, which passes it on to the
# emulators' own process (bench/soak.py starts both).
SOAK_PROXY_URL = os.environ.get("SOAK_PROXY_URL", "http://127.0.0.1:18302").rstrip("/")
for _gateway in MULTIPAY["GATEWAYS"].values():
    _options = _gateway["OPTIONS"]
    if str(_options.get("base_url") or "").startswith(SANDBOX_URL):
        _options["base_url"] = _options["base_url"].replace(
            SANDBOX_URL, f"{SOAK_PROXY_URL}/sandbox/", 1
        )
# The dummy gateway and the emulators are what the soak runs on, with DEBUG off as in
# production: let the test-only parts in deliberately.
MULTIPAY["ALLOW_TEST_GATEWAYS"] = True
# Reconciliation settles a refund whose call had no answer from the gateway's record once it
# is this old. The soak reconciles after its traffic has stopped, when no call is in flight.
MULTIPAY["REFUND_SETTLE_UNKNOWN_AFTER"] = int(os.environ.get("SOAK_SETTLE_AFTER", "5"))
# Ten minutes of traffic make a lot of INFO lines; warnings and errors are what the soak reads.
LOGGING["loggers"]["django_multipay"]["level"] = "WARNING"
LOGGING["loggers"]["shop"]["level"] = "WARNING"
SILENCED_SYSTEM_CHECKS = ["multipay.W001"]  # sandbox mode is the point here
