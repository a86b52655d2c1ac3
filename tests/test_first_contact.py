"""A new user's first contact, end to end: a fresh copy of the tree, ``make demo`` on a port
other than 8000 with only the system ``python3``, and a browser buying through every payment
option of the example shop, each order paid.

That run takes a few minutes and installs the demo from the package index, so it runs only
when asked: ``make first-contact`` (MULTIPAY_FIRST_CONTACT=1). The test database's name,
which decides whether two checkouts can test on one server at once, is checked every run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.shop_server import CHROMIUM, ROOT, _free_port

#: How long the fresh copy may take to create its virtualenv, install and start serving.
SERVING_TIMEOUT = 600  # seconds
#: Not copied: what a fresh clone never has.
LOCAL_ONLY = {".git", ".venv", ".tox", "docs/_build", "example_project/db.sqlite3"}


# -- the test database's name ----------------------------------------------------------------


def _test_db_name(**env: str) -> str:
    """The test database Django would create under tests.settings with ``env``."""
    code = (
        "import django; django.setup(); from django.db import connection; "
        "print(connection.creation._get_test_db_name())"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DB_NAME")}
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "DJANGO_SETTINGS_MODULE": "tests.settings", **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout.strip()


def test_the_test_database_is_named_after_the_database_in_database_url() -> None:
    pytest.importorskip("psycopg")
    url = "postgres://postgres@127.0.0.1:5432/"
    assert _test_db_name(DATABASE_URL=url + "mydb") == "test_mydb"
    assert _test_db_name(DATABASE_URL=url + "other") == "test_other"
    assert _test_db_name(DATABASE_URL=url + "mydb", TEST_DB_NAME="test_mine") == "test_mine"


# -- the example shop's addresses ------------------------------------------------------------


def _shop_urls(*argv: str, **env: str) -> dict[str, str]:
    """BASE_URL and every gateway alias's base_url, as the example shop's settings make them."""
    code = (
        "import json, sys; sys.argv = ['manage.py', *sys.argv[1:]]; "
        "import shopsite.settings as s; "
        "print(json.dumps({'BASE_URL': s.BASE_URL, **{alias: c['OPTIONS'].get('base_url') "
        "for alias, c in s.MULTIPAY['GATEWAYS'].items()}}))"
    )
    keep = {k: v for k, v in os.environ.items() if not k.endswith(("BASE_URL", "DEMO_ADDR"))}
    keep = {k: v for k, v in keep.items() if not k.endswith(("_KEY", "_MERCHANT_ID"))}
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        env={**keep, **env},
        cwd=ROOT / "example_project",
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("argv", "env", "base"),
    [
        ((), {"DEMO_ADDR": "127.0.0.1:18250"}, "http://127.0.0.1:18250"),
        (("runserver", "127.0.0.1:18251"), {}, "http://127.0.0.1:18251"),
        (("runserver", "0.0.0.0:18252", "--noreload"), {}, "http://127.0.0.1:18252"),
        (
            (),
            {"DEMO_ADDR": "127.0.0.1:18253", "BASE_URL": "https://shop.example.com"},
            "https://shop.example.com",
        ),
    ],
)
def test_every_gateway_url_of_the_example_shop_follows_one_address(
    argv: tuple[str, ...], env: dict[str, str], base: str
) -> None:
    pytest.importorskip("environ")
    urls = _shop_urls(*argv, **env)
    assert urls.pop("BASE_URL") == base
    assert len(urls) == 7
    for alias, url in urls.items():
        assert url == f"{base}/sandbox/{alias.split('-')[0]}/", alias


# -- the fresh copy --------------------------------------------------------------------------


def _tree_files() -> list[str]:
    """The files a clone of this checkout has, as they are now in the work tree."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
            timeout=60,
        ).stdout.decode()
    except (OSError, subprocess.CalledProcessError):
        # Not a git checkout: everything but what only a used checkout has.
        found = []
        for folder, dirs, names in os.walk(ROOT):
            here = Path(folder).relative_to(ROOT)
            dirs[:] = [d for d in dirs if (here / d).as_posix() not in LOCAL_ONLY]
            found += [(here / name).as_posix() for name in names]
        listed = "\0".join(found)
    files = []
    for name in filter(None, listed.split("\0")):
        parts = Path(name).parts
        if any("/".join(parts[: i + 1]) in LOCAL_ONLY for i in range(len(parts))):
            continue
        if "__pycache__" in parts or parts[0].endswith(".egg-info"):
            continue
        if not (ROOT / name).is_file():
            continue
        files.append(name)
    return files


def _only_python3_env(port: int) -> dict[str, str]:
    """The environment of someone who has python3 and make: no virtualenv, no settings."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin]
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "DJANGO_SETTINGS_MODULE", "MAKEFLAGS"}
    drop |= {"MAKELEVEL", "MFLAGS", "DATABASE_URL", "BASE_URL", "DEMO_ADDR", "DEBUG"}
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in drop and not k.endswith("_BASE_URL") and not k.startswith("PYTEST")
    }
    env.update(PATH=os.pathsep.join(path), PYTHONUNBUFFERED="1", DEMO_ADDR=f"127.0.0.1:{port}")
    return env


@dataclass
class Demo:
    root: Path
    url: str
    env: dict[str, str]
    log: Path
    started: float

    def shell(self, code: str) -> Any:
        """Run ``code`` in the copy's ``manage.py shell``; the JSON its last line printed."""
        done = subprocess.run(
            [str(self.root / ".venv/bin/python"), "example_project/manage.py", "shell", "-c", code],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    if not os.environ.get("MULTIPAY_FIRST_CONTACT"):
        pytest.skip("runs with `make first-contact` (installs the demo from the package index)")
    if shutil.which("make") is None:
        pytest.skip("no make on PATH")
    started = time.monotonic()
    root = tmp_path_factory.mktemp("first-contact") / "django-multipay"
    for name in _tree_files():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, root / name)
    port = _free_port()
    assert port != 8000
    url = f"http://127.0.0.1:{port}"
    env = _only_python3_env(port)
    log = root.parent / "make-demo.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            ["make", "demo", f"DEMO_ADDR=127.0.0.1:{port}"],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # make, manage.py and runserver's reloader stop together
        )
    try:
        deadline = started + SERVING_TIMEOUT
        while True:
            if server.poll() is not None:
                pytest.fail(f"make demo exited ({server.returncode}):\n{log.read_text()}")
            try:
                if requests.get(url + "/", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"make demo did not serve in {SERVING_TIMEOUT} s:\n{log.read_text()}")
            time.sleep(0.5)
        took = time.monotonic() - started
        print(f"\nfirst contact: copy to serving on {url} in {took:.0f} s")
        yield Demo(root=root, url=url, env=env, log=log, started=started)
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


# -- buying ----------------------------------------------------------------------------------

#: A product in each alias's currency, and how a customer pays on that gateway's page.
PURCHASES = {
    "dummy": "ceramic-mug",
    "paylands": "ceramic-mug",
    "paylands-payshop": "espresso-beans",
    "portone": "ceramic-mug",
    "portpos": "darjeeling-tea",
    "portwallet": "brass-tea-set",
    "postpay": "cardamom-coffee",
}
HOSTED_PAGES = {
    "dummy": r"/sandbox/dummy/pay/",
    "paylands": r"/sandbox/paylands/",
    "paylands-payshop": r"/sandbox/paylands/",
    "portone": r"/sandbox/portone/",
    "portpos": r"/sandbox/portpos/",
    "portwallet": r"/sandbox/portwallet/",
    "postpay": r"/sandbox/postpay/",
}


def _pay_on_the_gateway(page: Any, alias: str) -> None:
    """What the customer does on each emulator's page to pay."""
    if alias == "paylands":
        page.fill("[name=card_number]", "5590337536718399")  # approved without 3-D Secure
        page.get_by_role("button", name="Pay", exact=True).click()
    elif alias == "paylands-payshop":
        page.get_by_role("button", name=re.compile(r"^Paid")).click()
    elif alias == "postpay":
        page.get_by_role("button", name=re.compile(r"^Approve")).click()
    elif alias == "portone":
        page.get_by_role("button", name="Success", exact=True).click()
    elif alias in ("portpos", "portwallet"):
        page.get_by_role("button", name="Pay", exact=True).click()
    else:
        page.get_by_role("button", name="Paid", exact=True).click()


def _buy(browser: Any, demo: Demo, alias: str) -> str:
    """One customer buys one product with ``alias``; the order reference."""
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(demo.url + "/")
        page.locator(f"form[action='/cart/add/{PURCHASES[alias]}/'] button").click()
        page.goto(demo.url + "/checkout/")
        for name, value in {
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "phone": "+8801700000000",
            "billing_line1": "12 Example Road",
            "billing_city": "Dhaka",
            "billing_state": "Dhaka",
            "billing_postal_code": "1207",
            "billing_country": "BD",
        }.items():
            page.fill(f"[name={name}]", value)
        page.check("[name=shipping_same]")
        page.locator("button[type=submit]").last.click()
        page.wait_for_url(re.compile(r"/payments/pay/"))

        page.locator(f"button[name=gateway][value='{alias}']").click()
        page.wait_for_url(re.compile(re.escape(demo.url) + HOSTED_PAGES[alias]))
        _pay_on_the_gateway(page, alias)
        page.wait_for_url(re.compile(re.escape(demo.url) + r"/orders/SO-"))
        assert "Paid, to be shipped" in page.locator("main").inner_text(), alias
        return page.url.rstrip("/").rsplit("/", 1)[-1]
    finally:
        context.close()


def test_a_fresh_copy_serves_the_demo_and_every_gateway_takes_a_payment(
    demo: Demo, browser: Any
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium")
    # The demo installs what the shop needs, not the test tools.
    venv = demo.root / ".venv"
    assert (venv / ".stamp-demo").exists()
    assert not (venv / ".stamp-test").exists()
    demo_python = str(venv / "bin/python")
    for tool in ("playwright", "hypothesis", "schemathesis", "pytest"):
        found = subprocess.run(
            [demo_python, "-c", f"import importlib.util as u; print(u.find_spec({tool!r}))"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert found.stdout.strip() == "None", tool

    aliases = demo.shell(
        "import json; from django.conf import settings; "
        "print(json.dumps(sorted(settings.MULTIPAY['GATEWAYS'])))"
    )
    assert sorted(PURCHASES) == aliases  # every payment option of the demo is bought below

    # The demo registers its Postpay webhook on the emulator once it serves; it says so.
    hook = f"active  events=order,transaction  {demo.url}/payments/notify/postpay/"
    deadline = time.monotonic() + 60
    while hook not in demo.log.read_text():
        assert time.monotonic() < deadline, f"no Postpay webhook:\n{demo.log.read_text()}"
        time.sleep(0.2)

    bought = {alias: _buy(browser, demo, alias) for alias in aliases}
    took = time.monotonic() - demo.started
    print(f"first contact: copy to {len(bought)} gateways paid in {took:.0f} s")

    state = demo.shell(
        "import json; from shop.models import ShopOrder; from django_multipay.models import "
        "Notification; print(json.dumps({s.order.reference: {"
        "'fulfilment': s.fulfilment_status, 'order': s.order.status, "
        "'invoices': [[i.gateway, i.status] for i in s.order.invoices.all()], "
        "'notified': Notification.objects.filter(invoice__order=s.order, verified=True).count()"
        "} for s in ShopOrder.objects.select_related('order')}))"
    )
    for alias, reference in bought.items():
        assert state[reference]["order"] == "paid", (alias, state[reference])
        assert state[reference]["fulfilment"] == "paid", (alias, state[reference])
        assert state[reference]["invoices"] == [[alias, "paid"]], (alias, state[reference])
    # The demo registered its Postpay webhook on the emulator, so Postpay notified the shop.
    assert state[bought["postpay"]]["notified"] >= 1, state[bought["postpay"]]
    log = demo.log.read_text()
    assert "127.0.0.1:8000" not in log
    assert f"Shop:  {demo.url}/" in log
