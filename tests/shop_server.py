"""The example shop served for real: ``manage.py runserver`` on its own SQLite file, a free
port, demo data loaded; and a headless Chromium to drive it (skipped when either is missing).

Its fixtures ``shop`` and ``browser`` (module-scoped) are offered to every module by conftest.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
MANAGE = [sys.executable, str(ROOT / "example_project" / "manage.py")]
CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
STARTUP_ATTEMPTS = 150  # x 0.1 s


@dataclass
class Shop:
    url: str
    env: dict[str, str]
    log: Path

    def manage(self, *args: str) -> str:
        done = subprocess.run(
            [*MANAGE, *args], env=self.env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def shell(self, code: str) -> str:
        """Run ``code`` in the shop's ``manage.py shell``; the last line it printed."""
        return self.manage("shell", "-c", code).strip().splitlines()[-1]

    def db_state(self, reference: str) -> dict[str, Any]:
        """The shop order and its invoices, read by the shop's own ORM."""
        code = (
            "import json; from shop.models import ShopOrder; "
            "from django_multipay.models import Notification; "
            f"s = ShopOrder.objects.get(order__reference={reference!r}); "
            "print(json.dumps({'fulfilment': s.fulfilment_status, 'order': s.order.status, "
            "'invoices': list(s.order.invoices.values_list('status', flat=True)), "
            "'notifications': list(Notification.objects.filter(invoice__order=s.order)"
            ".values_list('verified', 'result'))}))"
        )
        return json.loads(self.shell(code))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    tmp = tmp_path_factory.mktemp("example-shop")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DEBUG="True",
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=f"sqlite:///{tmp / 'demo.sqlite3'}",
        BASE_URL=url,
        DUMMY_BASE_URL=f"{url}/sandbox/dummy/",
        PYTHONUNBUFFERED="1",
    )
    log = tmp / "server.log"
    running = Shop(url=url, env=env, log=log)
    running.manage("migrate", "--noinput", "-v0")
    running.manage("load_demo")
    with log.open("w") as out:
        server = subprocess.Popen(
            [*MANAGE, "runserver", f"127.0.0.1:{port}", "--noreload"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(STARTUP_ATTEMPTS):
            if server.poll() is not None:
                pytest.fail(f"The example shop exited:\n{log.read_text()}")
            try:
                if requests.get(url + "/", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        else:
            pytest.fail(f"The example shop did not answer:\n{log.read_text()}")
        yield running
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def csrf(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def buy(
    shop: Shop,
    outcome: str,
    customer: requests.Session | None = None,
    pages: dict[str, requests.Response] | None = None,
) -> tuple[str, requests.Response]:
    """Add a product, check out, pay with the dummy gateway choosing ``outcome``, as
    ``customer`` (a new visitor by default); ``pages`` receives the pay page as ``"pay"``.

    Returns the order reference and the page the customer ends on.
    """
    customer = customer or requests.Session()
    home = customer.get(shop.url + "/", timeout=10)
    assert "Espresso beans" in home.text
    added = customer.post(
        shop.url + "/cart/add/espresso-beans/",
        data={"csrfmiddlewaretoken": csrf(home.text), "quantity": "2"},
        timeout=10,
    )
    assert added.status_code == 200
    assert re.search(r"49[.,]80", added.text)  # 2 x 24.90, in the visitor's language

    form = customer.get(shop.url + "/checkout/", timeout=10)
    pay_page = customer.post(
        shop.url + "/checkout/",
        data={
            "csrfmiddlewaretoken": csrf(form.text),
            "name": "Ana García",
            "email": "ana@example.com",
            "phone": "+34 600 000 000",
            "billing_line1": "Calle Mayor 1",
            "billing_city": "Madrid",
            "billing_postal_code": "28013",
            "billing_country": "es",
            "shipping_same": "on",
        },
        timeout=10,
    )
    assert pay_page.status_code == 200, pay_page.text
    assert "/payments/pay/" in pay_page.url
    reference = re.search(r"<h1>[^<]*?(SO-[0-9A-Z-]+)", pay_page.text).group(1)
    if pages is not None:
        pages["pay"] = pay_page

    started = customer.post(
        pay_page.url,
        data={"csrfmiddlewaretoken": csrf(pay_page.text), "gateway": "dummy"},
        allow_redirects=False,
        timeout=20,
    )
    assert started.status_code == 302, started.text
    hosted_url = urljoin(pay_page.url, started.headers["Location"])
    assert hosted_url.startswith(shop.url + "/sandbox/dummy/pay/")
    hosted = customer.get(hosted_url, timeout=10)
    assert "Dummy payment page" in hosted.text

    final = customer.post(hosted_url, data={"outcome": outcome}, timeout=20)
    return reference, final


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield launched
        launched.close()
