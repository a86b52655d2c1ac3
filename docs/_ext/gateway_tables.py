"""Sphinx directives that draw the gateway tables from the built-in backends' declarations."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sphinx.application import Sphinx

    from django_multipay.gateways.base import BaseGateway

#: An en dash: what a table shows for "no".
NO = "\u2013"
CAPABILITY_COLUMNS = (
    "Gateway",
    "Refunds",
    "Refund retried after a timeout",
    "Capture",
    "Cancel",
    "Status read",
    "Listing (reconciliation)",
    "Refund list",
    "Settlement",
    "Signed notifications",
    "Currencies",
    "Amounts",
)


def backends() -> dict[str, type[BaseGateway]]:
    """The built-in backends by module name, with Django set up just enough to import them."""
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.auth", "django_multipay"]
        )
        django.setup()
    from django_multipay.gateways import builtin_backends

    return builtin_backends()


def _markdown(text: str) -> str:
    """A docstring's reST literals as Markdown's."""
    return re.sub(r"``([^`]+)``", r"`\1`", text)


def summary(backend: type[BaseGateway]) -> str:
    """The first paragraph of the backend's docstring, on one line."""
    first = (backend.__doc__ or "").strip().split("\n\n", 1)[0]
    return _markdown(" ".join(line.strip() for line in first.splitlines()))


def gateway_table() -> str:
    """One row a backend: its page, its dotted path, what it offers."""
    lines = ["| Gateway | Backend | What it offers |", "|---|---|---|"]
    for name, backend in backends().items():
        path = f"{backend.__module__}.{backend.__name__}"
        lines.append(
            f"| {{doc}}`{backend.display_name} <{name}>` | `{path}` | {summary(backend)} |"
        )
    return "\n".join(lines)


def _yes(value: bool) -> str:
    return "yes" if value else NO


def _amounts(low: Decimal | None, high: Decimal | None) -> str:
    if low is None and high is None:
        return "any"
    return f"{low if low is not None else 'any'} to {high if high is not None else 'any'}"


def capability_row(backend: type[BaseGateway]) -> str:
    from django_multipay.gateways.base import BaseGateway

    caps = backend.capabilities
    refunds = NO
    if caps.refund:
        refunds = "full"
        if caps.partial_refund:
            refunds = "full and partial"
            if caps.max_refunds:
                refunds += f" (at most {caps.max_refunds})"
    # Reconciliation reads many statuses at once where the backend lists them.
    lists = backend.fetch_statuses is not BaseGateway.fetch_statuses
    cells = (
        backend.display_name,
        refunds,
        _yes(caps.idempotent_refunds),
        _yes(caps.capture),
        _yes(caps.cancel),
        _yes(caps.fetch_status),
        _yes(lists),
        _yes(caps.list_refunds),
        _yes(caps.settlement),
        _yes(caps.signed_notifications),
        ", ".join(sorted(caps.currencies)) if caps.currencies else "any",
        _amounts(caps.min_amount, caps.max_amount),
    )
    return "| " + " | ".join(cells) + " |"


def capability_table() -> str:
    """One row a backend: what its ``capabilities`` declare."""
    return "\n".join(
        [
            "| " + " | ".join(CAPABILITY_COLUMNS) + " |",
            "|" + "---|" * len(CAPABILITY_COLUMNS),
            *(capability_row(backend) for backend in backends().values()),
        ]
    )


def setup(app: Sphinx) -> dict[str, Any]:
    # Sphinx and docutils are imported here, so the tables above can be built (and tested)
    # where only the package and its tests are installed.
    from docutils import nodes
    from docutils.statemachine import StringList
    from sphinx.util.docutils import SphinxDirective

    def directive(make: Any) -> type[SphinxDirective]:
        class Table(SphinxDirective):
            """Parses the Markdown ``make`` writes, where the directive stands."""

            has_content = False

            def run(self) -> list[nodes.Node]:
                holder = nodes.container()
                source = self.get_source_info()[0]
                self.state.nested_parse(StringList(make().splitlines(), source), 0, holder)
                return list(holder.children)

        return Table

    app.add_directive("gateway-table", directive(gateway_table))
    app.add_directive("gateway-capabilities", directive(capability_table))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
