"""Exactly once across processes: the example shop under gunicorn with 4 workers on PostgreSQL.

``tests/test_concurrency.py`` races threads of one process; here the racing requests land in
four separate worker processes, each with its own connections and memory, as behind a load
balancer. The shop runs on a PostgreSQL database of its own, created and dropped by the module.

The dummy emulator keeps its payments in process memory, so it runs apart, in one gunicorn
process the four shop workers all call: every worker reads the same truth. That emulator is
started without a webhook secret, so paying on its hosted page changes the payment there and
sends no notification; the test sends every notification itself, signed with the shop's
secret. (The refund events the emulator still sends are therefore refused by the shop with a
4xx, which the checks for 500s also cover.)

Afterwards the shop's own database is read: each transition happened once, each signal
receiver ran once per transition (the example shop writes one ``PaymentEvent`` row per signal
it receives), refunds never exceed what was captured, and no request answered 500.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from django.conf import settings
from django.db import connection

from django_multipay.gateways.dummy import SIGNATURE_HEADER, sign
from django_multipay.sandbox.dummy import notification_for
from tests.shop_server import _free_port

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: several server processes share one database "
        "(set DATABASE_URL=postgres://...)",
    ),
    pytest.mark.skipif(
        importlib.util.find_spec("gunicorn") is None,
        reason="needs gunicorn to run several server processes (pip install gunicorn)",
    ),
]

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "example_project"
MANAGE = [sys.executable, str(PROJECT / "manage.py")]
GUNICORN = [sys.executable, "-m", "gunicorn"]
WORKERS = 4
STARTUP_SECONDS = 30
POLL_SECONDS = 0.1
REQUEST_TIMEOUT = 30
API_KEY = "multiprocess-api-key"
WEBHOOK_SECRET = "multiprocess-webhook-secret"
AMOUNT = Decimal("100.00")
DUPLICATES = 50
RACED_INVOICES = 100
REFUNDS = 10
REFUND_AMOUNT = Decimal("30.00")  # 10 x 30.00 asks for three times the 100.00 captured.


@dataclass
class Cluster:
    shop_url: str
    emulator_url: str
    env: dict[str, str]
    access_log: Path
    logs: list[Path]
    invoices: list[dict[str, Any]]
    token: str

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [*MANAGE, *args], env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def query(self, code: str) -> Any:
        """Run ``code`` in the shop's ``manage.py shell``; it prints one JSON line last."""
        return json.loads(self.manage("shell", "-c", code).strip().splitlines()[-1])

    def statuses(self) -> list[int]:
        """The status of every request the shop's workers answered so far."""
        return [int(line.split()[0]) for line in self.access_log.read_text().splitlines()]

    def workers_serving(self, path: str) -> set[str]:
        """The worker processes (pids) that answered requests for ``path``."""
        lines = self.access_log.read_text().splitlines()
        return {line.split()[1] for line in lines if line.split()[3] == path}

    def state(self, invoice_ids: list[str]) -> dict[str, Any]:
        """Invoices, refunds and recorded signal runs, read by the shop's own ORM."""
        return self.query(
            "import json; from shop.models import PaymentEvent; "
            "from django_multipay.models import Invoice, Refund; "
            f"ids = {invoice_ids!r}; "
            "inv = {str(i.pk): {'status': i.status, 'captured': str(i.captured_amount), "
            "'refunded': str(i.refunded_amount)} for i in Invoice.objects.filter(pk__in=ids)}; "
            "ref = [{'id': str(r.pk), 'amount': str(r.amount), 'status': r.status} "
            "for r in Refund.objects.filter(invoice_id__in=ids)]; "
            "ev = [[e.signal, e.order_reference, str(e.invoice_id or ''), "
            "str(e.refund_id or ''), e.previous, e.current] "
            "for e in PaymentEvent.objects.filter(order_reference__in="
            "Invoice.objects.filter(pk__in=ids).values('order__reference'))]; "
            "print(json.dumps({'invoices': inv, 'refunds': ref, 'events': ev}))"
        )


# -- the servers -----------------------------------------------------------------------------


def _admin_connection() -> Any:
    psycopg = pytest.importorskip("psycopg")
    db = settings.DATABASES["default"]
    return psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=int(db.get("PORT") or 5432),
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )


def _database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    user = quote(db.get("USER") or "postgres", safe="")
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    return f"postgres://{user}{password}@{host}:{db.get('PORT') or 5432}/{name}"


def _gunicorn(port: int, log: Path, env: dict[str, str], *options: str) -> subprocess.Popen[bytes]:
    with log.open("w") as out:
        return subprocess.Popen(
            [*GUNICORN, "shopsite.wsgi", "-b", f"127.0.0.1:{port}", *options],
            cwd=PROJECT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    """Poll until ``url`` answers, for at most STARTUP_SECONDS."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"gunicorn exited:\n{log.read_text()}")
        try:
            requests.get(url, timeout=5)  # The first request also loads the project.
            return
        except (requests.ConnectionError, requests.Timeout):
            time.sleep(POLL_SECONDS)
    pytest.fail(f"{url} did not answer within {STARTUP_SECONDS} s:\n{log.read_text()}")


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


SETUP = """
import json
from decimal import Decimal
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token
from django_multipay import payments
user = get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-password")
made = []
for n in range({count}):
    order = payments.create_order(
        reference=f"MP-{{n:04d}}", amount=Decimal("{amount}"), currency="EUR",
    )
    invoice, action = payments.begin_payment(order, "dummy")
    made.append({{"id": str(invoice.pk), "gateway_id": invoice.gateway_id, "url": action.url,
                  "reference": order.reference}})
print(json.dumps({{"token": Token.objects.create(user=user).key, "invoices": made}}))
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("multiprocess")
    name = f"multipay_mp_{os.getpid()}"
    shop_port, emulator_port = _free_port(), _free_port()
    shop_url = f"http://127.0.0.1:{shop_port}"
    emulator_url = f"http://127.0.0.1:{emulator_port}"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DEBUG="True",  # The emulators are served only with DEBUG.
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=_database_url(name),
        BASE_URL=shop_url,
        DUMMY_BASE_URL=f"{emulator_url}/sandbox/dummy/",
        DUMMY_API_KEY=API_KEY,
        DUMMY_WEBHOOK_SECRET=WEBHOOK_SECRET,
        PYTHONUNBUFFERED="1",
    )
    # Without a webhook secret the emulator's hosted page sends no notification.
    emulator_env = {**env, "DUMMY_WEBHOOK_SECRET": ""}
    access_log = tmp / "shop-access.log"
    shop_log, emulator_log = tmp / "shop.log", tmp / "emulator.log"
    servers: list[subprocess.Popen[bytes]] = []
    with _admin_connection() as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        running = Cluster(shop_url, emulator_url, env, access_log, [shop_log], [], "")
        running.manage("migrate", "--noinput", "-v0")
        running.manage("load_demo")
        servers.append(
            _gunicorn(emulator_port, emulator_log, emulator_env, "-w", "1", "--threads", "32")
        )
        servers.append(
            _gunicorn(
                shop_port,
                shop_log,
                env,
                "-w",
                str(WORKERS),
                "--access-logfile",
                str(access_log),
                "--access-logformat",
                "%(s)s %(p)s %(m)s %(U)s",
            )
        )
        _wait_until_up(f"{emulator_url}/sandbox/dummy/pay/none", servers[0], emulator_log)
        _wait_until_up(f"{shop_url}/", servers[1], shop_log)
        made = running.query(SETUP.format(count=RACED_INVOICES + 2, amount=AMOUNT))
        running.invoices, running.token = made["invoices"], made["token"]
        running.logs.append(emulator_log)
        yield running
    finally:
        for server in servers:
            _stop(server)
        with _admin_connection() as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- helpers ---------------------------------------------------------------------------------


def fire(calls: list[Callable[[requests.Session], requests.Response]]) -> list[int]:
    """Run every call at once, each in its own thread and HTTP session; their statuses."""
    start = threading.Barrier(len(calls))
    local = threading.local()

    def run(call: Callable[[requests.Session], requests.Response]) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        start.wait(timeout=REQUEST_TIMEOUT)
        return call(local.session).status_code

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def pay_at_emulator(invoice: dict[str, Any]) -> str:
    """Choose "paid" on the emulator's hosted page; the return URL the customer is sent to."""
    answer = requests.post(
        invoice["url"], data={"outcome": "paid"}, allow_redirects=False, timeout=REQUEST_TIMEOUT
    )
    assert answer.status_code == 302, answer.text
    return str(answer.headers["Location"])


def signed_paid_notification(cluster: Cluster, invoice: dict[str, Any]) -> tuple[bytes, str]:
    """The emulator's own "paid" event for ``invoice``, signed with the shop's secret."""
    payment = requests.get(
        f"{cluster.emulator_url}/sandbox/dummy/api/payments/{invoice['gateway_id']}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=REQUEST_TIMEOUT,
    ).json()
    assert payment["status"] == "paid"
    body = json.dumps(notification_for(payment)).encode()
    return body, sign(WEBHOOK_SECRET, int(time.time()), body)


def notify(cluster: Cluster, body: bytes, signature: str) -> Callable[..., requests.Response]:
    def post(session: requests.Session) -> requests.Response:
        return session.post(
            f"{cluster.shop_url}/payments/notify/dummy/",
            data=body,
            headers={"Content-Type": "application/json", SIGNATURE_HEADER: signature},
            timeout=REQUEST_TIMEOUT,
        )

    return post


def customer_return(url: str) -> Callable[..., requests.Response]:
    def get(session: requests.Session) -> requests.Response:
        return session.get(url, allow_redirects=False, timeout=REQUEST_TIMEOUT)

    return get


def assert_each_transition_once(events: list[list[str]]) -> None:
    """Every (signal, subject, transition) was received exactly once."""
    repeated = {key: n for key, n in Counter(map(tuple, events)).items() if n > 1}
    assert not repeated, f"signal receivers ran more than once: {repeated}"


def assert_paid_once(state: dict[str, Any], invoice: dict[str, Any]) -> None:
    assert state["invoices"][invoice["id"]]["status"] == "paid"
    mine = [e for e in state["events"] if e[1] == invoice["reference"]]
    transitions = [(e[4], e[5]) for e in mine if e[0] == "invoice_status_changed"]
    assert transitions.count(("pending", "paid")) == 1, transitions
    assert [e[5] for e in mine if e[0] == "invoice_status_changed"][-1] == "paid"
    assert [e[0] for e in mine].count("order_paid") == 1, mine
    assert [(e[0], e[5]) for e in mine].count(("order_status_changed", "paid")) == 1, mine


def assert_no_server_errors(cluster: Cluster) -> None:
    statuses = cluster.statuses()
    assert statuses, "the shop's access log is empty"
    assert 500 not in statuses, Counter(statuses)
    for log in cluster.logs:
        assert "Traceback" not in log.read_text(), log.read_text()


# -- the races -------------------------------------------------------------------------------


def test_duplicate_paid_notifications_apply_once(cluster: Cluster) -> None:
    invoice = cluster.invoices[0]
    pay_at_emulator(invoice)
    body, signature = signed_paid_notification(cluster, invoice)

    answers = fire([notify(cluster, body, signature)] * DUPLICATES)

    assert set(answers) == {200}, Counter(answers)
    assert len(cluster.workers_serving("/payments/notify/dummy/")) > 1  # Really several.
    state = cluster.state([invoice["id"]])
    assert_paid_once(state, invoice)
    assert_each_transition_once(state["events"])
    assert_no_server_errors(cluster)


def test_notifications_racing_customer_returns(cluster: Cluster) -> None:
    raced = cluster.invoices[1 : RACED_INVOICES + 1]
    with ThreadPoolExecutor(max_workers=16) as pool:
        return_urls = list(pool.map(pay_at_emulator, raced))
        signed = list(pool.map(lambda i: signed_paid_notification(cluster, i), raced))
    raced_calls: list[tuple[str, Callable[..., requests.Response]]] = []
    for (body, signature), url in zip(signed, return_urls, strict=True):
        pair = [("notify", notify(cluster, body, signature)), ("return", customer_return(url))]
        random.shuffle(pair)
        raced_calls += pair  # Side by side, so both reach the workers together.
    kinds = [kind for kind, _ in raced_calls]
    calls = [call for _, call in raced_calls]

    answers = fire(calls)

    assert Counter(zip(kinds, answers, strict=True)) == {
        ("notify", 200): RACED_INVOICES,
        ("return", 302): RACED_INVOICES,
    }
    state = cluster.state([i["id"] for i in raced])
    for invoice in raced:
        assert_paid_once(state, invoice)
    assert_each_transition_once(state["events"])
    assert_no_server_errors(cluster)


def test_concurrent_partial_refunds_never_exceed_the_capture(cluster: Cluster) -> None:
    invoice = cluster.invoices[-1]
    return_url = pay_at_emulator(invoice)
    assert (
        requests.get(return_url, allow_redirects=False, timeout=REQUEST_TIMEOUT).status_code == 302
    )
    assert cluster.state([invoice["id"]])["invoices"][invoice["id"]]["status"] == "paid"

    def refund(session: requests.Session) -> requests.Response:
        return session.post(
            f"{cluster.shop_url}/api/invoices/{invoice['id']}/refunds/",
            json={"amount": str(REFUND_AMOUNT), "reason": "racing partial refund"},
            headers={"Authorization": f"Token {cluster.token}"},
            timeout=REQUEST_TIMEOUT,
        )

    answers = fire([refund] * REFUNDS)
    assert len(cluster.workers_serving(f"/api/invoices/{invoice['id']}/refunds/")) > 1

    state = cluster.state([invoice["id"]])
    made = [r for r in state["refunds"] if r["status"] != "failed"]
    assert {r["status"] for r in made} == {"succeeded"}, state["refunds"]
    refunded = sum((Decimal(r["amount"]) for r in made), Decimal("0"))
    assert refunded <= AMOUNT
    assert len(made) == int(AMOUNT // REFUND_AMOUNT) == answers.count(201), (answers, state)
    assert all(400 <= status < 500 for status in answers if status != 201), answers
    assert Decimal(state["invoices"][invoice["id"]]["refunded"]) == refunded
    emulator = requests.get(
        f"{cluster.emulator_url}/sandbox/dummy/api/payments/{invoice['gateway_id']}",
        headers={"Authorization": f"Bearer {API_KEY}"},
        timeout=REQUEST_TIMEOUT,
    ).json()
    assert Decimal(emulator["refunded_amount"]) == refunded  # Nothing sent twice.
    refund_events = [e for e in state["events"] if e[0] == "refund_status_changed"]
    assert {r["id"] for r in made} <= {e[3] for e in refund_events}
    assert_each_transition_once(state["events"])
    assert_no_server_errors(cluster)
