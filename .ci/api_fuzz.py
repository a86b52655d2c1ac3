"""Fuzz the example shop's REST API with schemathesis, in-process (WSGI), as staff and customer.

Run with ``make api-fuzz`` (or ``python -m pytest -p no:django .ci/api_fuzz.py``). The shop
runs on a throwaway SQLite file with a few orders, invoices and refunds, and the gateways'
emulators are served in-process, so paying, verifying and refunding really happen. Every
generated request must answer without a server error and as the schema says (status code,
content type, headers, body). ``API_FUZZ_EXAMPLES`` sets the examples per operation and user.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "example_project"), str(ROOT)]
# A throwaway database, in memory-backed storage where there is some (mkdtemp makes a
# private directory there).
SHM = "/dev/shm"  # noqa: S108
DB_DIR = tempfile.mkdtemp(prefix="multipay-api-fuzz-", dir=SHM if os.path.isdir(SHM) else None)
atexit.register(shutil.rmtree, DB_DIR, ignore_errors=True)
os.environ.update(
    DJANGO_SETTINGS_MODULE="shopsite.settings",
    DATABASE_URL=f"sqlite:///{DB_DIR}/db.sqlite3",
    DEBUG="true",
    ALLOWED_HOSTS="localhost,127.0.0.1,testserver",
    BASE_URL="http://127.0.0.1:8000",
)

import django  # noqa: E402
from django.conf import settings  # noqa: E402

# Nothing here needs to survive a crash: skip the fsync after every write.
settings.DATABASES["default"].setdefault("OPTIONS", {})["init_command"] = (
    "PRAGMA synchronous=OFF; PRAGMA journal_mode=MEMORY;"
)
django.setup()

import hypothesis  # noqa: E402
import pytest  # noqa: E402
import schemathesis  # noqa: E402
from django.contrib.auth.models import Permission, User  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from django_multipay import payments  # noqa: E402
from django_multipay.models import Invoice, Notification, Order, Refund  # noqa: E402
from django_multipay.testing.router import route_to_django  # noqa: E402

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))
# The emulators' URLs in the example's settings, served by this process.
EMULATOR_HOST = "127.0.0.1"


def _seed() -> dict[str, str]:
    """Users with API tokens, and objects for the generated ids to find now and then."""
    call_command("migrate", verbosity=0, interactive=False)
    staff = User.objects.create_user("staff", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="django_multipay",
            codename__in=("add_refund", "change_invoice", "view_notification"),
        )
    )
    customer = User.objects.create_user("customer")
    for number in range(3):
        order = payments.create_order(
            reference=f"FUZZ-{number}", amount="100.00", currency="EUR", user=customer
        )
        payments.start_payment(order, "dummy")
    paid = Invoice.objects.filter(order__reference="FUZZ-0").get()
    router.client.post(f"/sandbox/dummy/pay/{paid.gateway_id}", {"outcome": "paid"})
    paid.refresh_from_db()
    payments.refund(paid, "10.00", reason="seed")
    payments.create_order(reference="FUZZ-STAFF", amount="5.00", currency="EUR", user=staff)
    return {
        "staff": Token.objects.create(user=staff).key,
        "customer": Token.objects.create(user=customer).key,
    }


_routing = route_to_django(EMULATOR_HOST)
router = _routing.__enter__()
TOKENS = _seed()
APP = WSGIHandler()
schema = schemathesis.openapi.from_wsgi("/api/schema/", APP)


def _known_ids(path: str) -> list[Any]:
    if path.startswith("/api/orders/"):
        return [str(i) for i in Order.objects.values_list("public_id", flat=True)]
    if path.startswith("/api/invoices/"):
        return [str(i) for i in Invoice.objects.values_list("pk", flat=True)]
    if path.startswith("/api/refunds/"):
        return [str(i) for i in Refund.objects.values_list("pk", flat=True)]
    if path.startswith("/api/notifications/"):
        return list(Notification.objects.values_list("pk", flat=True))
    return []


@schema.hook
def flatmap_path_parameters(ctx: Any, parameters: dict[str, Any]) -> Any:
    """Half the time, an id that exists (so the endpoints' real work is fuzzed too)."""
    known = _known_ids(ctx.operation.path) if "id" in (parameters or {}) else []
    if not known:
        return st.just(parameters)
    return st.one_of(
        st.just(parameters), st.sampled_from(known).map(lambda i: {**parameters, "id": i})
    )


@pytest.fixture(params=["staff", "customer"])
def token(request: Any) -> str:
    return TOKENS[request.param]


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
)
def test_api(case: Any, token: str) -> None:
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        # "Schema-valid input is accepted" cannot hold for rules a schema cannot state: a
        # currency's decimal places, a unique reference, an order already paid.
        excluded_checks=[positive_data_acceptance],
    )
