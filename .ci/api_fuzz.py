"""Fuzz the example shop's REST API with schemathesis, in-process (WSGI), as staff and customer.

Run with ``make api-fuzz`` (or ``python -m pytest -p no:django .ci/api_fuzz.py``). The shop
runs on a throwaway SQLite file with a few orders, invoices and refunds, and the gateways'
emulators are served in-process, so paying, verifying and refunding really happen. Every
generated request must answer without a server error and as the schema says (status code,
content type, headers, body). ``API_FUZZ_EXAMPLES`` sets the examples per operation and user.

Stateful sequences follow the schema's links (schemathesis' state machine): create an order,
pay it, the customer pays (or declines) on the emulator's page, verify, refund part of it,
list and read the refunds and orders, as staff and as a customer. After every step no
invoice may have refunds reserved beyond what it captured. ``API_FUZZ_SCENARIOS`` sets the
sequences per user, ``API_FUZZ_STEPS`` the most steps in one.
"""

from __future__ import annotations

import atexit
import copy
import os
import shutil
import sys
import tempfile
import uuid
from collections import Counter
from pathlib import Path
from typing import Any, ClassVar

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
from django.db.models import F, Q, Sum  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.stateful import Bundle  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from schemathesis.engine.errors import is_inconsistent_replay  # noqa: E402
from schemathesis.generation.meta import TestPhase  # noqa: E402
from schemathesis.generation.stateful.state_machine import StepInput  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    ignored_auth,
    positive_data_acceptance,
)

from django_multipay import payments  # noqa: E402
from django_multipay.models import Invoice, Notification, Order, Refund  # noqa: E402
from django_multipay.processing import RESERVING_REFUND_STATUSES  # noqa: E402
from django_multipay.testing.router import route_to_django  # noqa: E402

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "10"))
SCENARIOS = int(os.environ.get("API_FUZZ_SCENARIOS", "25"))
STEPS = int(os.environ.get("API_FUZZ_STEPS", "15"))
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


# -- stateful sequences -------------------------------------------------------------------

#: Links added to the schema for the sequences: which answer feeds which request. Alongside
#: them, schemathesis infers more from the schema (an invoice's id in an order, and so on).
LINKS: dict[tuple[str, str, str], dict[str, Any]] = {
    ("/api/orders/", "post", "201"): {
        "PayAtTheDummy": {
            "operationId": "orders_pay_create",
            "parameters": {"path.id": "$response.body#/id"},
            "requestBody": {"gateway": "dummy"},
        },
        "ListOrders": {"operationId": "orders_list"},
    },
    ("/api/orders/{id}/pay/", "post", "201"): {
        "VerifyTheInvoice": {
            "operationId": "invoices_verify_create",
            "parameters": {"path.id": "$response.body#/invoice/id"},
        },
        "RefundTheInvoice": {
            "operationId": "invoices_refunds_create",
            "parameters": {"path.id": "$response.body#/invoice/id"},
        },
    },
    ("/api/invoices/{id}/verify/", "post", "200"): {
        "RefundPart": {
            "operationId": "invoices_refunds_create",
            "parameters": {"path.id": "$response.body#/id"},
            "requestBody": {"amount": "1.00"},
        },
    },
    ("/api/invoices/{id}/refunds/", "post", "201"): {
        "ListTheRefunds": {
            "operationId": "invoices_refunds_list",
            "parameters": {"path.id": "$request.path.id"},
        },
        "ReadTheInvoice": {
            "operationId": "invoices_retrieve",
            "parameters": {"path.id": "$request.path.id"},
        },
    },
}

#: Currencies of the example shop's dummy gateway with their decimal places (an order in
#: any other currency cannot be paid there, which the stateless tests already cover).
CURRENCIES = {"EUR": 2, "BDT": 2, "JPY": 0, "KWD": 3}


def _linked_schema() -> Any:
    raw = copy.deepcopy(schema.raw_schema)
    for (path, method, status), links in LINKS.items():
        raw["paths"][path][method]["responses"][status].setdefault("links", {}).update(links)
    linked = schemathesis.openapi.from_dict(raw)
    linked.app = APP
    linked.location = "/api/schema/"
    return linked


stateful_schema = _linked_schema()


@st.composite
def _payable(draw: Any) -> tuple[str, str]:
    currency = draw(st.sampled_from(sorted(CURRENCIES)))
    places = CURRENCIES[currency]
    minor = draw(st.integers(min_value=100 * 10**places, max_value=500 * 10**places))
    return currency, f"{minor / 10**places:.{places}f}"


@stateful_schema.hook
def flatmap_body(ctx: Any, body: Any) -> Any:
    """New orders in a currency and amount the dummy takes, so that sequences go on to pay and
    refund; their other fields stay generated. The reference is new each time, not drawn:
    Hypothesis replays a sequence, and a replayed reference would be refused as taken."""
    if not isinstance(body, dict):
        return st.just(body)
    if ctx.operation.label == "POST /api/orders/{id}/pay/":
        # Gateway options are for staff only, and rarely valid when generated: half the
        # payments go without them, so the customer's sequences go on too.
        return st.sampled_from([body, {k: v for k, v in body.items() if k != "options"}])
    if ctx.operation.label != "POST /api/orders/":
        return st.just(body)
    return _payable().map(
        lambda money: {
            **{k: v for k, v in body.items() if k != "items"},
            "reference": f"SEQ-{uuid.uuid4().hex}",
            "currency": money[0],
            "amount": money[1],
        }
    )


_BaseWorkflow: Any = stateful_schema.as_state_machine()
_ORDERS_CREATE = stateful_schema.find_operation_by_id("orders_create")


class Workflow(_BaseWorkflow):
    """Sequences as one user; after each step, no refund reserved beyond the capture."""

    user = "staff"
    #: (operation, status) of every answer, per user: what the sequences reached.
    seen: ClassVar[Counter[tuple[str, int]]] = Counter()
    #: Every failure as it happened (a replay of the sequence may not reach it again).
    failures: ClassVar[list[str]] = []

    def setup(self) -> None:
        self.awaiting: list[str] = []  # gateway ids of invoices the customer has not paid
        self.started = 0

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        return {"headers": {"Authorization": f"Token {TOKENS[self.user]}"}}

    def after_call(self, response: Any, case: Any) -> None:
        super().after_call(response, case)
        self.seen[case.operation.label, response.status_code] += 1
        if case.operation.label == "POST /api/orders/{id}/pay/" and response.status_code == 201:
            gateway_id = response.json()["invoice"]["gateway_id"]
            self.started += 1
            if self.started % 4:
                # Most customers pay at once, so that sequences go on to refunds...
                self._pay_at_the_gateway(gateway_id, "paid")
            else:  # ...and some take their time (see customer_at_the_gateway).
                self.awaiting.append(gateway_id)

    def _pay_at_the_gateway(self, gateway_id: str, outcome: str) -> None:
        """The customer's choice on the emulator's page; its notification reaches the shop."""
        answer = router.client.post(f"/sandbox/dummy/pay/{gateway_id}", {"outcome": outcome})
        if answer.status_code not in (302, 409):  # 409: cancelled meanwhile
            self.failures.append(f"the emulator's page answered {answer.status_code}")
            raise AssertionError(answer.content)

    def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
        try:
            case.validate_response(
                response,
                # The user's token replaces whatever credential was generated, so a request
                # the check takes for "invalid authentication" in fact carried a valid one.
                excluded_checks=[positive_data_acceptance, ignored_auth],
                transport_kwargs=kwargs or None,
                recorder=self.recorder,
            )
        except Exception as exc:
            self.failures.append(f"{case.operation.label}: {exc}")
            raise

    # schemathesis starts sequences only at operations whose inputs it can fill from others
    # (it takes an order's addresses for references to a resource nobody makes), so the first
    # link of every sequence, a new order, is started here.
    @hypothesis.stateful.rule(
        target=Bundle("catch_all"),
        case=_ORDERS_CREATE.as_strategy(phase=TestPhase.STATEFUL),
    )
    def new_order(self, case: Any) -> Any:
        self.recorder.record_case(case=case)
        return self._step(StepInput.initial(case))

    # Always enabled and drawing alike whatever the shop answered earlier: a rule that depends
    # on the server's answers makes Hypothesis' replays inconsistent.
    @hypothesis.stateful.rule(
        pick=st.integers(min_value=0, max_value=1000),
        outcome=st.sampled_from(["paid", "paid", "declined", "cancelled"]),
    )
    def customer_at_the_gateway(self, pick: int, outcome: str) -> None:
        """A customer who took their time pays, declines or cancels."""
        if not self.awaiting:
            return
        self._pay_at_the_gateway(self.awaiting.pop(pick % len(self.awaiting)), outcome)

    @hypothesis.stateful.invariant()
    def refunds_within_capture(self) -> None:
        reserved = Sum("refunds__amount", filter=Q(refunds__status__in=RESERVING_REFUND_STATUSES))
        beyond = Q(reserved__gt=F("captured_amount")) | Q(refunded_amount__gt=F("captured_amount"))
        over = list(
            Invoice.objects.annotate(reserved=reserved)
            .filter(beyond)
            .values("pk", "captured_amount", "refunded_amount", "reserved")
        )
        if over:
            self.failures.append(f"refunds beyond the capture: {over}")
            raise AssertionError(self.failures[-1])


# Sequences start at a new order or at a list; a random id for any other operation is what
# the tests above already send.
STARTS = {"RANDOM__GET_api_orders_", "RANDOM__GET_api_notifications_"}
for _name in _BaseWorkflow.root_rules - STARTS:
    setattr(Workflow, _name, None)  # a subclass attribute that is no rule hides the rule
Workflow.root_rules = frozenset(STARTS | {"new_order"})


class CustomerWorkflow(Workflow):
    user = "customer"
    seen: ClassVar[Counter[tuple[str, int]]] = Counter()
    failures: ClassVar[list[str]] = []


STATEFUL_SETTINGS = hypothesis.settings(
    # The same sequences on every run: whether they reach the payment (asserted below) must
    # not depend on the draw, and a failure must be one that can be run again.
    derandomize=True,
    max_examples=SCENARIOS,
    stateful_step_count=STEPS,
    deadline=None,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
    phases=[hypothesis.Phase.generate],
)


@pytest.mark.parametrize("machine", [Workflow, CustomerWorkflow], ids=["staff", "customer"])
def test_stateful(machine: Any) -> None:
    try:
        machine.run(settings=STATEFUL_SETTINGS)
    except Exception as exc:
        # The shop's state moves on between runs, so Hypothesis' replay of a sequence (to
        # shrink it, or on its way to a new one) may draw differently and call that flaky.
        # schemathesis' own runner takes it the same way; failures are judged as recorded.
        if not (isinstance(exc, hypothesis.errors.Flaky) or is_inconsistent_replay(exc)):
            raise
    assert not machine.failures, machine.failures
    # The sequences got somewhere: orders made and sent to the gateway by the links.
    reached = {op: n for (op, status), n in machine.seen.items() if status in (200, 201)}
    assert reached.get("POST /api/orders/"), machine.seen
    assert reached.get("POST /api/orders/{id}/pay/"), machine.seen
