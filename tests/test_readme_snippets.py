"""The README's and the quickstart's snippets, pasted into a new project, take a payment.

Each snippet carries a marker in the Markdown (``<!-- paste: mysite/settings.py -->`` appends
it to that file, ``replace:`` writes the file, ``run: python manage.py shell`` runs it), so
the documents and this test read the same text. The project is made by ``django-admin
startproject mysite`` and ``python manage.py startapp shop``, served by ``runserver`` on a
free port, and paid on the dummy gateway's emulator.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.shop_server import ROOT, _free_port, csrf

SNIPPET_RE = re.compile(
    r"<!-- (?P<action>paste|replace|run): (?P<target>[^>]+?) -->\s*\n"
    r"```python\n(?P<code>.*?)\n```",
    re.DOTALL,
)
STARTUP_ATTEMPTS = 150  # x 0.1 s


@dataclass
class Snippet:
    action: str
    target: str
    code: str


def snippets(document: str) -> list[Snippet]:
    text = (ROOT / document).read_text(encoding="utf-8")
    return [Snippet(m["action"], m["target"].strip(), m["code"]) for m in SNIPPET_RE.finditer(text)]


@dataclass
class Project:
    root: Path
    url: str
    env: dict[str, str]
    log: Path
    runs: list[str]

    def manage(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env=env or self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def shell(self, code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return self.manage("shell", "-c", code, env=env)


def _serve(tmp: Path, document: str) -> Iterator[Project]:
    """A new project made of ``document``'s snippets, served on a free port."""
    found = snippets(document)
    assert found, f"no marked snippets in {document}"
    root = tmp / "site"
    root.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SITE_URL")}
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env.update(SITE_URL=url, PYTHONUNBUFFERED="1")
    subprocess.run(
        [sys.executable, "-m", "django", "startproject", "mysite", str(root)],
        env=env,
        check=True,
        timeout=60,
    )
    project = Project(root=root, url=url, env=env, log=tmp / "server.log", runs=[])
    project.manage("startapp", "shop")
    for snippet in found:
        compile(snippet.code, f"{document}:{snippet.target}", "exec")  # pasted as it is
        if snippet.action == "run":
            project.runs.append(snippet.code)
            continue
        target = root / snippet.target
        if snippet.action == "replace" or not target.exists():
            target.write_text(snippet.code + "\n", encoding="utf-8")
        else:
            target.write_text(
                target.read_text(encoding="utf-8") + "\n\n" + snippet.code + "\n", encoding="utf-8"
            )
    project.manage("check")
    project.manage("makemigrations", "shop")
    project.manage("migrate", "--noinput")
    with project.log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        for _ in range(STARTUP_ATTEMPTS):
            if server.poll() is not None:
                pytest.fail(f"The new project exited:\n{project.log.read_text()}")
            try:
                requests.get(url + "/payments/", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            pytest.fail(f"The new project did not answer:\n{project.log.read_text()}")
        yield project
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def readme_project(tmp_path: Path) -> Iterator[Project]:
    yield from _serve(tmp_path, "README.md")


@pytest.fixture
def quickstart_project(tmp_path: Path) -> Iterator[Project]:
    yield from _serve(tmp_path, "docs/quickstart.md")


def _pay_on_the_dummy(customer: requests.Session, started: requests.Response) -> str:
    """Follow the redirect to the dummy's page and choose Paid; the page the customer ends on."""
    assert started.status_code == 302, started.text
    hosted_url = urljoin(started.url, started.headers["Location"])
    assert "/sandbox/dummy/pay/" in hosted_url
    hosted = customer.get(hosted_url, timeout=10)
    assert "Dummy payment page" in hosted.text
    final = customer.post(hosted_url, data={"outcome": "paid"}, timeout=20)
    return final.url


def _order_status(project: Project, reference: str) -> str:
    done = project.shell(
        "from django_multipay.models import Order; "
        f"print(Order.objects.get(reference={reference!r}).status)"
    )
    return done.stdout.strip().splitlines()[-1]


def test_the_readme_snippets_make_a_project_that_takes_a_payment(
    readme_project: Project,
) -> None:
    project = readme_project
    assert len(project.runs) == 1
    pay_path = project.shell(project.runs[0]).stdout.strip().splitlines()[-1]
    assert pay_path.startswith("/payments/pay/")

    customer = requests.Session()
    pay_page = customer.get(project.url + pay_path, timeout=10)
    assert pay_page.status_code == 200
    assert "Test card" in pay_page.text
    started = customer.post(
        pay_page.url,
        data={"csrfmiddlewaretoken": csrf(pay_page.text), "gateway": "dummy"},
        allow_redirects=False,
        timeout=20,
    )
    landed = _pay_on_the_dummy(customer, started)
    assert landed == project.url + "/orders/A-1001/"

    assert _order_status(project, "A-1001") == "paid"
    # The receiver's receipt, printed by the console mail backend, once.
    assert project.log.read_text().count("Subject: Order A-1001 is paid") == 1


def test_the_quickstart_snippets_make_a_project_that_takes_a_payment(
    quickstart_project: Project,
) -> None:
    project = quickstart_project
    customer = requests.Session()
    customer.get(project.url + "/admin/login/", timeout=10)  # sets the CSRF cookie
    started = customer.post(
        project.url + "/checkout/",
        data={"csrfmiddlewaretoken": customer.cookies["csrftoken"], "email": "ada@example.com"},
        allow_redirects=False,
        timeout=20,
    )
    landed = _pay_on_the_dummy(customer, started)
    reference = re.search(r"/orders/(A-[0-9A-F]{8})/thanks/$", landed).group(1)

    assert _order_status(project, reference) == "paid"
    done = project.shell(
        "from shop.models import Shipment; "
        "print(list(Shipment.objects.values_list('order_reference', flat=True)))"
    )
    assert done.stdout.strip().splitlines()[-1] == repr([reference])


def test_the_quickstart_view_logs_why_a_payment_could_not_start(
    quickstart_project: Project,
) -> None:
    """With the emulator misrouted (nothing listens there), the view answers 502 and logs the
    alias and the reason, never a key."""
    project = quickstart_project
    misrouted = {**project.env, "SITE_URL": f"http://127.0.0.1:{_free_port()}"}
    done = project.shell(
        "from django.test import Client; "
        "r = Client(HTTP_HOST='127.0.0.1').post('/checkout/', {'email': 'ada@example.com'}); "
        "print(r.status_code)",
        env=misrouted,
    )
    assert done.stdout.strip().splitlines()[-1] == "502"
    logged = [line for line in done.stderr.splitlines() if "could not start" in line]
    assert len(logged) == 1, done.stderr
    assert re.search(
        r"Payment for order A-[0-9A-F]{8} could not start at dummy: .+ \(\w+\)", logged[0]
    )
    assert "dev-api-key" not in done.stderr
    assert "dev-webhook-secret" not in done.stderr
