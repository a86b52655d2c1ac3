"""The gateway tables of docs/gateways/index.md are drawn from what each backend declares."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

from django_multipay.gateways import builtin_backends

DOCS = Path(__file__).resolve().parent.parent / "docs"
spec = importlib.util.spec_from_file_location("gateway_tables", DOCS / "_ext" / "gateway_tables.py")
assert spec is not None
assert spec.loader is not None
gateway_tables = importlib.util.module_from_spec(spec)
sys.modules.setdefault("gateway_tables", gateway_tables)
spec.loader.exec_module(gateway_tables)

#: What the backends declare today, as the page shows it ("-" for the page's en dash).
CAPABILITIES_TEXT = """\
| Gateway | Refunds | Refund retried after a timeout | Capture | Cancel | Status read | Listing (reconciliation) | Refund list | Settlement | Signed notifications | Currencies | Amounts |
|---|---|---|---|---|---|---|---|---|---|---|---|
| Dummy | full and partial (at most 10) | yes | yes | yes | yes | - | yes | - | yes | any | any |
| Paylands | full and partial | - | yes | yes | yes | - | yes | - | yes | EUR | any |
| PortOne | full and partial | - | yes | yes | yes | yes | yes | - | yes | any | any |
| PortPos | full and partial (at most 5) | - | - | - | yes | - | yes | - | - | BDT, EUR, GBP, USD | 0.1 to 99999999 |
| PortWallet | full and partial | - | - | - | yes | - | yes | - | - | BDT | 10.00 to 99999999.99 |
| Postpay | full and partial | yes | yes | - | yes | - | yes | yes | yes | AED | any |"""  # noqa: E501
CAPABILITIES = re.sub(r"(?<=\| )-(?= \|)", gateway_tables.NO, CAPABILITIES_TEXT)


def test_the_capability_table_is_what_the_backends_declare() -> None:
    # The shipped backends' rows, as pinned; a backend added later brings a row of its own.
    drawn = gateway_tables.capability_table().splitlines()
    pinned = CAPABILITIES.splitlines()
    assert drawn[:2] == pinned[:2]
    assert set(pinned[2:]) <= set(drawn[2:])
    assert len(drawn) == 2 + len(builtin_backends())


def test_a_declaration_changes_its_row() -> None:
    portpos = builtin_backends()["portpos"]
    row = gateway_tables.capability_row(portpos)
    assert row.startswith("| PortPos | full and partial (at most 5) |")
    assert "| BDT, EUR, GBP, USD | 0.1 to 99999999 |" in row


def test_the_gateway_table_has_a_row_for_every_backend() -> None:
    lines = gateway_tables.gateway_table().splitlines()
    assert len(lines) == 2 + len(builtin_backends()) >= 8
    assert lines[4] == (
        "| {doc}`PortOne <portone>` | `django_multipay.gateways.portone.PortOneGateway` |"
        " PortOne Global: channel payments, PortOne's checkout page (payment links), PREAUTH"
        " capture, full and partial refunds. Needs the `portone` extra (PyJWT). |"
    )
    for line, name in zip(lines[2:], builtin_backends(), strict=True):
        assert f" <{name}>` |" in line
        assert (DOCS / "gateways" / f"{name}.md").exists()


def test_the_index_draws_both_tables() -> None:
    text = (DOCS / "gateways" / "index.md").read_text()
    assert "```{gateway-table}\n```" in text
    assert "```{gateway-capabilities}\n```" in text
    assert "| Gateway |" not in text  # nothing written by hand
