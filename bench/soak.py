"""`make soak`: mixed traffic on the example shop (gunicorn, 4 workers, PostgreSQL), faults on.

For ``SOAK_SECONDS`` (600) client threads buy (create an order, pay, choose on the emulator's
page, come back), repeat notifications, refund part of what was paid and read the API, while
5% of the shop's gateway calls fail (:mod:`bench.faults`: a 500, a reset connection, or no
answer at all). Then the faults stop, ``multipay_reconcile`` runs once, and the shop's
database is held against the emulators and the shop's own logs. Writes
``bench/results/soak.json`` and the soak section of ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from bench.emulator import Server

ROOT = Path(__file__).resolve().parent.parent
PROJECT = ROOT / "example_project"
RESULTS = ROOT / "bench" / "results" / "soak.json"
PAGE = ROOT / "docs" / "performance.md"
START, END = "<!-- soak:results:start -->", "<!-- soak:results:end -->"

HOST = "127.0.0.1"
SHOP_PORT, EMULATOR_PORT, PROXY_PORT = 18300, 18301, 18302
SHOP = f"http://{HOST}:{SHOP_PORT}"
EMULATOR = f"http://{HOST}:{EMULATOR_PORT}"
PROXY = f"http://{HOST}:{PROXY_PORT}"
WORKERS = 4
#: gunicorn's default: a worker silent for this long is killed and replaced.
WORKER_TIMEOUT = 30
#: The client waits longer than the worker timeout, so a killed worker shows as no answer.
CLIENT_TIMEOUT = 60
DATABASE_URL = os.environ.get("SOAK_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/mp_soak")
#: What the documentation lets the shop answer when a gateway fails: a 5xx that is not one of
#: these is a defect.
DOCUMENTED_5XX = (502, 503, 504)
#: The example shop's emulator accounts (example_project/shopsite/settings.py defaults).
DUMMY_API_KEY = "dummy-dev-api-key"
#: Each gateway the traffic pays through, its currency and its share of purchases.
GATEWAYS = {"dummy": ("EUR", 0.6), "portpos": ("BDT", 0.4)}
#: The choices on each emulator's payment page: paid, declined, cancelled.
OUTCOMES = {"dummy": ("paid", "declined", "cancelled"), "portpos": ("pay", "decline", "cancel")}
#: How often each kind of traffic is chosen.
MIX = {"purchase": 5, "duplicate": 2, "refund": 2, "browse": 1}
SAMPLES = 10
BILLING = {
    "name": "Soak Customer",
    "email": "soak@example.com",
    "phone": "+8801712345678",
    "line1": "1 Soak Road",
    "city": "Dhaka",
    "state": "Dhaka",
    "postal_code": "1207",
    "country": "BD",
}
IDS = re.compile(r"/[0-9a-fA-F-]{32,36}(?=/|$)|/pay_[0-9a-f]+|/\d+(?=/|$)")


# -- the servers -----------------------------------------------------------------------------


def server_env(role: str) -> dict[str, str]:
    """The environment of the shop's and the emulators' processes (the example shop's
    settings, read from the environment, under bench/soak_settings.py)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DJANGO_SETTINGS_MODULE="bench.soak_settings",
        PYTHONPATH=os.pathsep.join([str(ROOT), str(PROJECT)]),
        DATABASE_URL=DATABASE_URL,
        BASE_URL=SHOP,
        ALLOWED_HOSTS=f"{HOST},localhost",
        SECRET_KEY="soak-only-not-secret",
        SOAK_PROXY_URL=PROXY,
        SOAK_ROLE=role,
        PYTHONUNBUFFERED="1",
        DEMO_POSTPAY_HOOK="false",
    )
    return env


class Gunicorn(Server):
    """The example shop (or the emulators) under gunicorn, with an access log to read back."""

    def __init__(
        self, name: str, port: int, role: str, *options: str, app: str = "shopsite.wsgi"
    ) -> None:
        self.port = port
        tmp = Path(tempfile.gettempdir())
        self.log = tmp / f"multipay-soak-{name}.log"
        self.access_log = tmp / f"multipay-soak-{name}-access.log"
        args = [
            app,
            "--bind", f"{HOST}:{port}",
            "--timeout", str(WORKER_TIMEOUT),
            "--access-logfile", str(self.access_log),
            "--access-logformat", "%(s)s %(p)s %(m)s %(U)s",
            *options,
        ]  # fmt: skip
        super().__init__(
            name,
            args,
            f"http://{HOST}:{port}/api/gateways/",
            env=server_env(role),
            cwd=ROOT,
            log_path=self.log,
            stop_timeout=30,
        )

    def __enter__(self) -> Gunicorn:
        self.access_log.unlink(missing_ok=True)  # gunicorn appends to it
        super().__enter__()
        return self

    def answers(self) -> list[tuple[int, str, str, str]]:
        """(status, worker pid, method, path) of every request the workers answered."""
        rows = []
        for line in self.access_log.read_text().splitlines():
            parts = line.split(" ", 3)
            if len(parts) == 4 and parts[0].isdigit():
                rows.append((int(parts[0]), parts[1], parts[2], parts[3]))
        return rows

    def worker_restarts(self) -> dict[str, int]:
        """Workers booted beyond the first ones, and the workers gunicorn killed as hung."""
        text = self.log.read_text(errors="replace")
        booted = text.count("Booting worker with pid")
        return {"restarts": max(0, booted - WORKERS), "timeouts": text.count("WORKER TIMEOUT")}


def manage(*args: str, timeout: float = 900) -> str:
    done = subprocess.run(
        [sys.executable, str(PROJECT / "manage.py"), *args],
        cwd=ROOT,
        env=server_env("shop"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done.stdout + done.stderr


def prepare_database() -> None:
    """Drop and recreate the soak's database, and migrate it."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(DATABASE_URL)
    admin = psycopg.connect(
        dbname="postgres",
        host=parts.hostname or None,
        port=parts.port or None,
        user=parts.username or None,
        password=parts.password or None,
        autocommit=True,
    )
    with admin:
        name = sql.Identifier(parts.path.lstrip("/"))
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(name))
    manage("migrate", "--noinput", "-v0")


def setup_django() -> None:
    """This process reads the shop's database with the shop's own settings."""
    for key, value in server_env("shop").items():
        if key != "PYTHONPATH":
            os.environ[key] = value
    sys.path[:0] = [str(ROOT), str(PROJECT)]
    import django

    django.setup()


def users() -> dict[str, str]:
    """API tokens: a member of staff who refunds, a customer who buys."""
    from django.contrib.auth import get_user_model
    from rest_framework.authtoken.models import Token

    model = get_user_model()
    staff = model.objects.create_superuser("soak-staff", "staff@example.com", "soak-password")
    customer = model.objects.create_user("soak-customer", "soak@example.com", "soak-password")
    return {
        "staff": Token.objects.create(user=staff).key,
        "customer": Token.objects.create(user=customer).key,
    }


# -- the traffic -----------------------------------------------------------------------------


@dataclass
class Bought:
    """An invoice the traffic started, as the shop's API described it."""

    id: str
    alias: str
    gateway_id: str
    amount: Decimal
    currency: str
    outcome: str = ""


@dataclass
class Tally:
    """What the clients did and what the shop answered them, shared by the client threads."""

    actions: Counter[str] = field(default_factory=Counter)
    answers: Counter[str] = field(default_factory=Counter)
    no_answer: int = 0
    client_errors: int = 0
    samples: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, what: str, status: int | None, detail: str = "") -> None:
        with self.lock:
            if status is None:
                self.no_answer += 1
            self.answers[f"{what} {status if status is not None else 'no answer'}"] += 1
            unexpected = status is None or (status >= 500 and status not in DOCUMENTED_5XX)
            if unexpected and len(self.samples) < SAMPLES:
                self.samples.append(f"{what} {status}: {detail[:300]}")


class Traffic:
    """Client threads in closed loops until ``deadline``, each drawing from ``MIX``."""

    def __init__(self, tokens: dict[str, str], seed: int) -> None:
        self.tokens = tokens
        self.tally = Tally()
        self.started: list[Bought] = []
        self.paid: list[Bought] = []
        self.lock = threading.Lock()
        self.seed = seed

    def run(self, clients: int, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        threads = [
            threading.Thread(target=self._loop, args=(n, deadline), daemon=True)
            for n in range(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _loop(self, number: int, deadline: float) -> None:
        rng = random.Random(f"{self.seed}-{number}")
        session = requests.Session()
        kinds, weights = zip(*MIX.items(), strict=True)
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            with self.tally.lock:
                self.tally.actions[kind] += 1
            try:
                getattr(self, kind)(session, rng)
            except Exception as exc:  # the client's own surprise (an answer it cannot read)
                with self.tally.lock:
                    self.tally.client_errors += 1
                    if len(self.tally.samples) < SAMPLES:
                        self.tally.samples.append(f"{kind}: client {type(exc).__name__}: {exc}")

    def _shop(
        self, session: requests.Session, what: str, method: str, path: str, **kwargs: Any
    ) -> requests.Response | None:
        try:
            answer = session.request(
                method, f"{SHOP}{path}", timeout=CLIENT_TIMEOUT, allow_redirects=False, **kwargs
            )
        except requests.RequestException as exc:
            self.tally.note(what, None, f"{type(exc).__name__}: {exc}")
            return None
        self.tally.note(what, answer.status_code, answer.text)
        return answer

    def _api(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Token {self.tokens[user]}"}

    def purchase(self, session: requests.Session, rng: random.Random) -> None:
        """Order, pay, choose on the gateway's page, come back (and now and then reload)."""
        aliases, shares = zip(*((a, s) for a, (_, s) in GATEWAYS.items()), strict=True)
        alias = rng.choices(aliases, shares)[0]
        currency = GATEWAYS[alias][0]
        amount = Decimal(rng.randrange(1000, 50000)) / 100
        order = self._shop(
            session,
            "POST /api/orders/",
            "POST",
            "/api/orders/",
            json={
                "reference": f"SOAK-{uuid.uuid4().hex[:16]}",
                "amount": f"{amount:.2f}",
                "currency": currency,
                "customer_name": BILLING["name"],
                "customer_email": BILLING["email"],
                "customer_phone": BILLING["phone"],
                "billing_address": BILLING,
            },
            headers=self._api("customer"),
        )
        if order is None or order.status_code != 201:
            return
        paying = self._shop(
            session,
            f"POST /api/orders/{{id}}/pay/ ({alias})",
            "POST",
            f"/api/orders/{order.json()['id']}/pay/",
            json={"gateway": alias},
            headers=self._api("customer"),
        )
        if paying is None or paying.status_code != 201:
            return
        data = paying.json()
        invoice = data["invoice"]
        bought = Bought(
            invoice["id"], alias, invoice["gateway_id"], Decimal(invoice["amount"]), currency
        )
        paid, declined, cancelled = OUTCOMES[alias]
        bought.outcome = rng.choices([paid, declined, cancelled], [8, 1, 1])[0]
        # The customer's browser on the gateway's page (the emulator, no faults there); the
        # emulator notifies the shop before it sends the customer back.
        try:
            page = session.post(
                data["action"]["url"],
                data={"outcome": bought.outcome},
                timeout=CLIENT_TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            self.tally.note(f"gateway page ({alias})", None, str(exc))
            return
        with self.lock:
            self.started.append(bought)
            if bought.outcome == paid:
                self.paid.append(bought)
        back = page.headers.get("Location", "")
        if page.status_code != 302 or not back.startswith(SHOP):
            with self.tally.lock:
                self.tally.answers[f"gateway page ({alias}) {page.status_code}"] += 1
            return
        for _ in range(2 if rng.random() < 0.2 else 1):
            self._shop(session, "GET /payments/return/{id}/", "GET", back[len(SHOP) :])

    def duplicate(self, session: requests.Session, rng: random.Random) -> None:
        """The gateway sends an invoice's notification again."""
        with self.lock:
            if not self.started:
                return
            bought = rng.choice(self.started)
        if bought.alias == "dummy":
            # The emulator's own resend: signed, as its first notification was.
            try:
                session.post(
                    f"{EMULATOR}/sandbox/dummy/api/payments/{bought.gateway_id}/notify",
                    headers={"Authorization": f"Bearer {DUMMY_API_KEY}"},
                    timeout=CLIENT_TIMEOUT,
                )
            except requests.RequestException as exc:
                self.tally.note("dummy resend", None, str(exc))
            return
        status = {"pay": "ACCEPTED", "decline": "REJECTED"}.get(bought.outcome)
        if status is None:
            return  # PortPos sends no IPN for a cancelled payment
        # PortPos' IPN repeated: unsigned, so the shop validates it with PortPos again.
        self._shop(
            session,
            "POST /payments/notify/portpos/",
            "POST",
            "/payments/notify/portpos/",
            data={
                "invoice": bought.gateway_id,
                "amount": f"{bought.amount:.2f}",
                "status": status,
                "reference": bought.id,
            },
        )

    def refund(self, session: requests.Session, rng: random.Random) -> None:
        """Staff refund part of a paid invoice (now and then all of it, or more than is
        left); an answer lost or 5xx is retried once with the same Idempotency-Key."""
        with self.lock:
            if not self.paid:
                return
            bought = rng.choice(self.paid)
        if rng.random() < 0.1:
            amount = bought.amount
        else:
            amount = max(Decimal("1.00"), (bought.amount * Decimal(rng.uniform(0.1, 0.4))))
        body = {"amount": f"{amount.quantize(Decimal('0.01'))}", "reason": "soak"}
        headers = {**self._api("staff"), "Idempotency-Key": uuid.uuid4().hex}
        for _ in range(2):
            answer = self._shop(
                session,
                f"POST /api/invoices/{{id}}/refunds/ ({bought.alias})",
                "POST",
                f"/api/invoices/{bought.id}/refunds/",
                json=body,
                headers=headers,
            )
            if answer is not None and answer.status_code < 500:
                return

    def browse(self, session: requests.Session, rng: random.Random) -> None:
        """The customer's orders, or one invoice, through the API."""
        with self.lock:
            bought = rng.choice(self.started) if self.started and rng.random() < 0.5 else None
        if bought is None:
            self._shop(
                session, "GET /api/orders/", "GET", "/api/orders/", headers=self._api("customer")
            )
        else:
            self._shop(
                session,
                "GET /api/invoices/{id}/",
                "GET",
                f"/api/invoices/{bought.id}/",
                headers=self._api("customer"),
            )


# -- the checks ------------------------------------------------------------------------------


def shop_answers(shop: Gunicorn) -> dict[str, Any]:
    """Every answer of the shop's workers (the clients' and the emulators' notifications),
    by endpoint and status; the 5xx the documentation does not name."""
    by: Counter[str] = Counter()
    unexpected: Counter[str] = Counter()
    documented: Counter[str] = Counter()
    notify = 0
    for status, _pid, method, path in shop.answers():
        endpoint = f"{method} {IDS.sub('/{id}', path)}"
        by[f"{endpoint} {status}"] += 1
        if method == "POST" and path.startswith("/payments/notify/"):
            notify += 1
        if status >= 500:
            (documented if status in DOCUMENTED_5XX else unexpected)[f"{endpoint} {status}"] += 1
    return {
        "by_endpoint": dict(sorted(by.items())),
        "unexpected_5xx": dict(unexpected),
        "documented_5xx": dict(documented),
        "notifications_answered": notify,
    }


def notification_figures(answered: int) -> dict[str, Any]:
    """Notifications the shop answered against the rows it stored; those left open."""
    from django_multipay.models import Notification
    from django_multipay.status import NotificationResult

    stored = Notification.objects.count()
    results = Counter(Notification.objects.values_list("result", flat=True))
    open_results = (NotificationResult.RECEIVED, NotificationResult.FAILED)
    return {
        "stored": stored,
        "lost": max(0, answered - stored),
        "by_result": dict(results),
        "left_open": sum(results[r] for r in open_results),
    }


def emulator_app() -> Any:
    """The example shop's WSGI application (its /sandbox/ emulators), plus ``/_soak/state``:
    every payment the emulators hold, as they hold it (gunicorn ``bench.soak:emulator_app()``)."""
    from shopsite.wsgi import application

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != "/_soak/state":
            return application(environ, start_response)
        body = json.dumps(emulator_state(), default=str).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]

    return app


def emulator_state() -> dict[str, dict[str, Any]]:
    """In the emulators' process: each payment by gateway id, in our vocabulary, straight
    from the emulators' own tables (sandbox/dummy.py, sandbox/portpos.py), not through any
    backend's reading of them."""
    from django_multipay.sandbox import portpos
    from django_multipay.sandbox.store import store

    dummy = {"declined": "failed"}  # the dummy's words are ours but for this one
    state: dict[str, dict[str, Any]] = {}
    with store.table("dummy.payments") as table:
        for gid, p in table.items():
            state[gid] = {
                "status": dummy.get(p["status"], p["status"]),
                "captured": p["captured_amount"],
                "refunded": p["refunded_amount"],
            }
    words = {
        "PENDING": "pending",
        "ACCEPTED": "paid",
        "REJECTED": "failed",
        "CANCELLED": "cancelled",
        "PARTIALLY_REFUNDED": "partially_refunded",
        "REFUNDED": "refunded",
        "REFUND_PENDING": "refund_pending",
    }
    with store.table(portpos.TABLE) as table:
        for gid, invoice in table.items():
            status = invoice["order"]["status"]
            refunds = [r for r in invoice["_refunds"] if r["status"] == "REFUNDED"]
            paid = status not in ("PENDING", "REJECTED", "CANCELLED")
            state[gid] = {
                "status": words.get(status, status),
                "captured": invoice["order"]["amount"] if paid else "0",
                "refunded": str(sum((Decimal(r["amount"]) for r in refunds), Decimal(0))),
            }
    return state


def disagreements() -> dict[str, Any]:
    """Each invoice the gateway knows, held against the emulator's own record of it: status,
    captured and refunded amounts."""
    from django_multipay.models import Invoice

    with requests.get(f"{EMULATOR}/_soak/state", timeout=CLIENT_TIMEOUT) as answer:
        answer.raise_for_status()
        truth = answer.json()
    from django_multipay.status import RefundStatus

    checked, differ, unknown = 0, [], 0
    awaiting_a_person = counted_more = 0
    by_status: Counter[str] = Counter()
    for invoice in Invoice.objects.exclude(gateway_id="").iterator():
        by_status[f"{invoice.gateway} {invoice.status}"] += 1
        theirs = truth.get(invoice.gateway_id)
        if theirs is None:
            unknown += 1  # an id the gateway never gave: counted as a disagreement
            differ.append({"invoice": str(invoice.pk), "fields": ["unknown to the gateway"]})
            continue
        checked += 1
        ours = {
            "status": invoice.status,
            "captured": invoice.captured_amount,
            "refunded": invoice.refunded_amount,
        }
        wrong = [
            name
            for name in ("captured", "refunded")
            if Decimal(ours[name]) != Decimal(theirs[name])
        ]
        if ours["status"] != theirs["status"]:
            wrong.insert(0, "status")
        if wrong:
            waiting = invoice.refunds.filter(status=RefundStatus.REQUESTED).count()
            more = any(
                Decimal(ours[name]) > Decimal(theirs[name]) for name in ("captured", "refunded")
            )
            counted_more += more
            # Left for a person: a refund whose answer never came, which the gateway's record
            # cannot settle (the admin shows it as of unknown outcome), and nothing counted
            # beyond the gateway's own figures.
            awaiting_a_person += bool(waiting) and not more
            differ.append(
                {
                    "invoice": str(invoice.pk),
                    "gateway": invoice.gateway,
                    "fields": wrong,
                    "ours": {k: str(v) for k, v in ours.items()},
                    "emulator": theirs,
                    "refunds_of_unknown_outcome": waiting,
                }
            )
    return {
        "checked": checked,
        "unknown_to_the_gateway": unknown,
        "disagree": len(differ),
        "disagree_by_gateway": dict(Counter(d.get("gateway", "?") for d in differ)),
        "awaiting_a_person": awaiting_a_person,
        "counted_more_than_the_gateway": counted_more,
        "samples": differ[:SAMPLES],
        "invoices_by_status": dict(sorted(by_status.items())),
        "never_started": Invoice.objects.filter(gateway_id="").count(),
    }


def refunds_over_captured() -> dict[str, Any]:
    """Invoices whose refunds (requested, pending or succeeded) or refunded total exceed
    what was captured."""
    from django.db.models import F, Q, Sum

    from django_multipay.models import Invoice, Refund
    from django_multipay.processing import RESERVING_REFUND_STATUSES

    reserved = Sum("refunds__amount", filter=Q(refunds__status__in=RESERVING_REFUND_STATUSES))
    over = (
        Invoice.objects.annotate(reserved=reserved)
        .filter(Q(reserved__gt=F("captured_amount")) | Q(refunded_amount__gt=F("captured_amount")))
        .values_list("pk", flat=True)
    )
    return {
        "over": len(over),
        "samples": [str(pk) for pk in over[:SAMPLES]],
        "refunds_by_status": dict(Counter(Refund.objects.values_list("status", flat=True))),
    }


# -- the run ---------------------------------------------------------------------------------


def run(seconds: float, clients: int, rate: float, seed: int, hang: float) -> dict[str, Any]:
    from bench.faults import FaultProxy

    began = time.monotonic()
    prepare_database()
    setup_django()
    tokens = users()
    from django.db import connections

    connections.close_all()
    emulator = Gunicorn(
        "emulator", EMULATOR_PORT, "emulator",
        "--workers", "1", "--worker-class", "gthread", "--threads", "16",
        app="bench.soak:emulator_app()",
    )  # fmt: skip
    shop = Gunicorn("shop", SHOP_PORT, "shop", "--workers", str(WORKERS))
    proxy = FaultProxy(PROXY_PORT, EMULATOR, rate=rate, seed=seed, hang=hang)
    with emulator, proxy, shop:
        print(f"soak: {seconds:.0f} s, {clients} clients, {rate:.0%} of gateway calls failing")
        traffic = Traffic(tokens, seed)
        traffic.run(clients, seconds)
        traffic_done = time.monotonic()
        proxy.enabled.clear()
        before = disagreements()["disagree"]
        # A refund whose call had no answer is settled from the gateway's record once it is
        # SOAK_SETTLE_AFTER old (bench/soak_settings.py); every call has ended by now.
        time.sleep(float(os.environ.get("SOAK_SETTLE_AFTER", "5")) + 1)
        reconcile_began = time.monotonic()
        reconciled = manage("multipay_reconcile", "--older-than", "0")
        reconcile_seconds = time.monotonic() - reconcile_began
        answers = shop_answers(shop)
        restarts = shop.worker_restarts()
        from bench.run import machine

        results: dict[str, Any] = {
            "machine": machine(),
            "config": {
                "seconds": seconds,
                "clients": clients,
                "fault_rate": rate,
                "seed": seed,
                "hang_seconds": hang,
                "workers": WORKERS,
                "worker_timeout": WORKER_TIMEOUT,
                "gateways": {a: c for a, (c, _) in GATEWAYS.items()},
                "mix": MIX,
            },
            "traffic": {
                "actions": dict(traffic.tally.actions),
                "client_answers": dict(sorted(traffic.tally.answers.items())),
                "invoices_started": len(traffic.started),
                "invoices_paid_by_customer": len(traffic.paid),
                "seconds": round(traffic_done - began, 1),
            },
            "gateway_calls": dict(proxy.counts),
            "shop": answers,
            "notifications": notification_figures(answers["notifications_answered"]),
            "reconcile": {"seconds": round(reconcile_seconds, 1), "output": reconciled[-2000:]},
            "state": {**disagreements(), "disagree_before_reconcile": before},
            "refunds": refunds_over_captured(),
            "workers": restarts,
            "no_answer": {
                "count": traffic.tally.no_answer,
                "client_errors": traffic.tally.client_errors,
                "samples": traffic.tally.samples,
            },
        }
    results["figures"] = figures(results)
    results["seconds"] = round(time.monotonic() - began, 1)
    return results


def figures(results: dict[str, Any]) -> dict[str, int]:
    """The five the soak is judged by, each with a target of 0 (and the answers that never
    came, which count with the 5xx)."""
    return {
        "unexpected_5xx": sum(results["shop"]["unexpected_5xx"].values())
        + results["no_answer"]["count"],
        "notifications_lost": results["notifications"]["lost"],
        "disagreements_after_reconcile": results["state"]["disagree"],
        "refunds_over_captured": results["refunds"]["over"],
        "worker_restarts": results["workers"]["restarts"],
    }


def markdown(results: dict[str, Any]) -> str:
    """The soak's section of docs/performance.md."""
    m, c, f = results["machine"], results["config"], results["figures"]
    calls = results["gateway_calls"]
    faults = sum(calls.get(k, 0) for k in ("500", "reset", "timeout"))
    total = faults + calls.get("forward", 0)
    traffic = results["traffic"]
    labels = {
        "unexpected_5xx": "5xx answers other than 502/503/504, and requests never answered",
        "notifications_lost": "Notifications answered but not stored",
        "disagreements_after_reconcile": "Invoices that disagree with the emulator after "
        "one reconciliation",
        "refunds_over_captured": "Invoices refunded beyond what was captured",
        "worker_restarts": "Worker restarts",
    }
    out = [
        "### Last soak",
        "",
        f"Run on {m['date']}: {m['cores']} cores, Python {m['python']}, Django {m['django']}, "
        f"PostgreSQL {m['postgresql']}, gunicorn {m['gunicorn']}; {c['seconds']:.0f} s of "
        f"traffic from {c['clients']} clients, {c['workers']} sync workers.",
        "",
        "| Figure | Target | Measured |",
        "|---|---|---|",
        *(f"| {labels[k]} | 0 | {v:,} |" for k, v in f.items()),
        "",
        f"Traffic: {_counts(traffic['actions'])}; {traffic['invoices_started']:,} invoices "
        f"started, {traffic['invoices_paid_by_customer']:,} paid by their customer. Gateway "
        f"calls: {total:,}, of which {faults:,} failed "
        f"({_counts(calls, ('500', 'reset', 'timeout'))}). The shop answered "
        f"{results['shop']['notifications_answered']:,} notifications and stored "
        f"{results['notifications']['stored']:,} "
        f"({_counts(results['notifications']['by_result'])}); "
        f"{sum(results['shop']['documented_5xx'].values()):,} answers were a documented "
        "502, 503 or 504. After the faults stopped, one reconciliation took "
        f"{results['reconcile']['seconds']:.0f} s; then {results['state']['checked']:,} "
        "invoices were read back from the emulators "
        f"({results['state']['disagree_before_reconcile']:,} disagreed before it).",
        "",
    ]
    state = results["state"]
    if state["disagree"]:
        out += [
            f"Of the {state['disagree']:,} that disagree after it "
            f"({_counts(state.get('disagree_by_gateway', {}))}), "
            f"{state.get('awaiting_a_person', 0):,} hold a refund of unknown outcome that the "
            "gateway's record cannot settle, left for a person (the admin's **Resolve "
            "outcome…**), and count less than the gateway; "
            f"{state.get('counted_more_than_the_gateway', 0):,} count more than it.",
            "",
        ]
    return "\n".join(out)


def _counts(counts: dict[str, int], keys: Any = None) -> str:
    keys = keys or sorted(counts, key=lambda k: -counts[k])
    return ", ".join(f"{k} {counts.get(k, 0):,}" for k in keys)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--seconds", type=float, default=float(os.environ.get("SOAK_SECONDS", "600"))
    )
    parser.add_argument("--clients", type=int, default=int(os.environ.get("SOAK_CLIENTS", "8")))
    parser.add_argument(
        "--fault-rate", type=float, default=float(os.environ.get("SOAK_FAULT_RATE", "0.05"))
    )
    parser.add_argument("--seed", type=int, default=int(os.environ.get("SOAK_SEED", "1")))
    parser.add_argument(
        "--hang",
        type=float,
        default=float(os.environ.get("SOAK_HANG_SECONDS", "60")),
        help="longest a 'timeout' fault keeps the shop waiting",
    )
    parser.add_argument(
        "--check", action="store_true", help="a short run: write no files, fail on any figure"
    )
    args = parser.parse_args()
    results = run(args.seconds, args.clients, args.fault_rate, args.seed, args.hang)
    for name, value in results["figures"].items():
        print(f"{'ok    ' if value == 0 else 'FOUND '} {name}: {value}")
    if args.check:
        failed = {k: v for k, v in results["figures"].items() if v}
        if failed:
            print(json.dumps({k: results[k] for k in ("shop", "state", "no_answer")}, indent=1))
            raise SystemExit(f"soak figures above 0: {failed}")
        return
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    from bench.run import write_page

    write_page(markdown(results), START, END)
    print(f"Wrote {RESULTS.relative_to(ROOT)} and the soak section of {PAGE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
