"""The sandbox emulators in a gunicorn process of their own, pre-filled, counting connections."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from datetime import timedelta
from typing import Any
from urllib.error import URLError

from gunicorn.workers.gthread import ThreadWorker

HOST, PORT = "127.0.0.1", 8031
THREADS = 4
#: Longer than any pause in a benchmark, as a real gateway's keep-alive would be.
KEEPALIVE = 30
CHUNK = 10_000

# -- inside the emulator process ------------------------------------------------------------

_lock = threading.Lock()
_stats = {"accepted": 0, "bench": 0, "requests": 0}


class CountingThreadWorker(ThreadWorker):
    """gunicorn's gthread worker, counting the TCP connections it accepts (the server's count,
    whatever the client believes it reuses)."""

    def accept(self, listener: Any) -> None:
        # Counted first: the connection's request may be served before accept() returns.
        with _lock:
            _stats["accepted"] += 1
        before = self.nr_conns
        super().accept(listener)
        if self.nr_conns == before:  # nothing was accepted (EAGAIN)
            with _lock:
                _stats["accepted"] -= 1


def _fill(rows: Sequence[Sequence[str]], gateways: Iterable[str]) -> int:
    """Store each ``[invoice_id, gateway_id, amount, currency]`` as paid at each gateway."""
    from django.conf import settings
    from django.utils import timezone

    from django_multipay.sandbox import portpos
    from django_multipay.sandbox.store import store

    options = settings.MULTIPAY["GATEWAYS"]
    base = settings.MULTIPAY["BASE_URL"]
    now = timezone.now()
    for gateway in gateways:
        if gateway == "dummy":
            with store.table("dummy.payments") as table:
                for invoice_id, gid, amount, currency in rows:
                    table[gid] = _dummy_payment(
                        invoice_id, gid, amount, currency, options["dummy"]["OPTIONS"], base, now
                    )
        elif gateway == "portpos":
            with store.table(portpos.TABLE) as table:
                for invoice_id, gid, amount, currency in rows:
                    invoice = _portpos_invoice(
                        invoice_id, gid, amount, currency, options["portpos"]["OPTIONS"], base, now
                    )
                    portpos.settle_payment(invoice, "pay")  # the emulator's own "paid" state
                    table[gid] = invoice
        else:
            raise ValueError(f"no emulator for {gateway!r}")
    return len(rows)


def _dummy_payment(
    invoice_id: str, gid: str, amount: str, currency: str, opts: dict[str, Any], base: str, now: Any
) -> dict[str, Any]:
    """A payment as the dummy emulator keeps it (sandbox/dummy.py ``payments``), paid."""
    return {
        "id": gid,
        "status": "paid",
        "amount": amount,
        "currency": currency,
        "captured_amount": amount,
        "refunded_amount": "0",
        "reference": invoice_id,
        "description": "Benchmark order",
        "capture": "automatic",
        "url": f"http://{HOST}:{PORT}/sandbox/dummy/pay/{gid}",
        "created_at": now.isoformat(),
        "expires_at": (now + timedelta(hours=1)).isoformat(),
        "failure_reason": "",
        "_api_key": opts["api_key"],
        "_expires": now + timedelta(hours=1),
        "_return_url": f"{base}/payments/return/{invoice_id}/",
        "_cancel_url": f"{base}/payments/return/{invoice_id}/?cancelled=1",
        "_notify_url": f"{base}/payments/notify/dummy/",
        "_refunds": [],
    }


def _portpos_invoice(
    invoice_id: str, gid: str, amount: str, currency: str, opts: dict[str, Any], base: str, now: Any
) -> dict[str, Any]:
    """An invoice as the PortPos emulator keeps it (sandbox/portpos.py ``create_invoice``)."""
    from django_multipay.sandbox.portpos import _time

    customer = {
        "name": "Bench Customer",
        "email": "bench@example.com",
        "phone": "+8801700000000",
        "address": {
            "street": "1 Bench Road",
            "city": "Dhaka",
            "state": "Dhaka",
            "zipcode": "1207",
            "country": "BD",
        },
    }
    return {
        "invoice_id": gid,
        "reference": invoice_id,
        "order": {
            "amount": amount,
            "currency": currency,
            "type": "purchase",
            "has_emi": 0,
            "discount_availed": 0,
            "redirect_url": f"{base}/payments/return/{invoice_id}/",
            "created_at": _time(now),
            "status": "PENDING",
        },
        "product": {"name": "Benchmark order", "description": "Benchmark order"},
        "billing": {"customer": dict(customer)},
        "shipping": {"customer": dict(customer)},
        "transactions": [],
        "customs": [],
        "_app_key": opts["app_key"],
        "_ipn_url": f"{base}/payments/notify/portpos/",
        "_expires": now + timedelta(days=1),
        "_page": f"http://{HOST}:{PORT}/sandbox/portpos/payment/?invoice={gid}",
        "_refunds": [],
    }


def _json(start_response: Callable[..., Any], data: Any, status: str = "200 OK") -> list[bytes]:
    body = json.dumps(data).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def wsgi_app() -> Callable[..., Any]:
    """The emulators (the benchmark project), plus ``/_bench/stats`` and ``/_bench/load``."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    from django.core.wsgi import get_wsgi_application

    django_app = get_wsgi_application()

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_bench/"):
            with _lock:
                # Each of these came on a connection of its own (urllib closes it): not counted.
                _stats["bench"] += 1
                connections = _stats["accepted"] - _stats["bench"]
                requests = _stats["requests"]
        if path == "/_bench/stats":
            return _json(start_response, {"connections": connections, "requests": requests})
        if path == "/_bench/load" and environ["REQUEST_METHOD"] == "POST":
            size = int(environ.get("CONTENT_LENGTH") or 0)
            payload = json.loads(environ["wsgi.input"].read(size))
            return _json(start_response, {"loaded": _fill(payload["rows"], payload["gateways"])})
        with _lock:
            _stats["requests"] += 1
        return django_app(environ, start_response)

    return application


# -- in the benchmark process ---------------------------------------------------------------


def wait_for_http(url: str, proc: subprocess.Popen[bytes], deadline: float = 60.0) -> None:
    """Poll ``url`` until it answers (any HTTP status) or ``proc`` dies or time runs out."""
    stop = time.monotonic() + deadline
    while time.monotonic() < stop:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except URLError as exc:
            if getattr(exc, "code", None):  # an HTTP error is an answer: the server is up
                return
        except OSError:
            pass
        try:  # between attempts, watch the process: it may have died
            proc.wait(timeout=0.05)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
    raise TimeoutError(f"{url} did not answer within {deadline:.0f} s")


class Server:
    """A gunicorn process started in a ``with`` block and always stopped when it ends."""

    def __init__(
        self,
        name: str,
        args: list[str],
        probe: str,
        *,
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log_path: str | os.PathLike[str] | None = None,
        stop_timeout: float = 15,
    ) -> None:
        self.name, self.args, self.probe = name, args, probe
        self.env = env or {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
        self.cwd = cwd
        default_log = os.path.join(tempfile.gettempdir(), f"multipay-bench-{name}.log")
        self.log_path = log_path or default_log
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with open(self.log_path, "wb") as log:  # the child keeps its own copy
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", *self.args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
            )
        try:
            wait_for_http(self.probe, self.proc)
        except Exception as exc:
            self.stop()
            raise RuntimeError(f"{self.name} did not start; see {self.log_path}") from exc
        except BaseException:  # Ctrl-C while waiting: stop it all the same
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Emulator(Server):
    """The emulator process on 127.0.0.1:8031 (settings.EMULATOR_URL)."""

    def __init__(self, threads: int = THREADS) -> None:
        self.base = f"http://{HOST}:{PORT}"
        super().__init__(
            "emulator",
            [
                "--bind", f"{HOST}:{PORT}",
                "--workers", "1",
                "--worker-class", "bench.emulator.CountingThreadWorker",
                "--threads", str(threads),
                "--keep-alive", str(KEEPALIVE),
                "--log-level", "warning",
                "bench.emulator:wsgi_app()",
            ],
            probe=f"http://{HOST}:{PORT}/_bench/stats",
        )  # fmt: skip

    def stats(self) -> dict[str, int]:
        """TCP connections accepted and emulator requests served so far, the benchmark's own
        calls to ``/_bench/`` left out (the server's counters)."""
        with urllib.request.urlopen(f"{self.base}/_bench/stats", timeout=10) as answer:
            return dict(json.load(answer))

    def load(self, rows: Sequence[Sequence[str]], gateways: Iterable[str] = ("dummy",)) -> int:
        """Store these invoices as paid at these gateways; how many were stored."""
        loaded = 0
        for start in range(0, len(rows), CHUNK):
            body = json.dumps(
                {"rows": list(rows[start : start + CHUNK]), "gateways": list(gateways)}
            )
            request = urllib.request.Request(
                f"{self.base}/_bench/load",
                data=body.encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=120) as answer:
                loaded += int(json.load(answer)["loaded"])
        return loaded


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--invoices", type=int, default=1000, help="seed and load this many")
    parser.add_argument("--serve", action="store_true", help="keep serving until Ctrl-C")
    args = parser.parse_args()
    from bench import seed

    seed.setup_django()
    seed.prepare_database()
    seed.seed_invoices(1, args.invoices)
    rows = seed.targets(args.invoices)
    with Emulator() as emulator:
        started = time.perf_counter()
        loaded = emulator.load(rows, ("dummy", "portpos"))
        print(
            f"loaded {loaded} invoices in {time.perf_counter() - started:.1f} s", emulator.stats()
        )
        if args.serve:
            print(f"serving on {emulator.base}; Ctrl-C stops")
            try:
                assert emulator.proc is not None
                emulator.proc.wait()
            except KeyboardInterrupt:
                pass


if __name__ == "__main__":
    main()
