"""Part 6: TCP connections one worker opens to a gateway for 1,000 calls, counted by the server."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

from bench import seed
from bench.emulator import Emulator

GATEWAYS = ("dummy", "portpos")


def run(*, calls: int = 1000) -> dict[str, Any]:
    """``fetch_status`` ``calls`` times per gateway from this process (one worker, one
    gateway instance each, as ``get_gateway`` keeps them); connections the emulator accepted."""
    seed.setup_django()
    from django_multipay.models import Invoice
    from django_multipay.registry import get_gateway

    # Invoices that exist only at the emulator: the calls need no database.
    rows = [
        seed.Target(str(uuid.uuid4()), seed.gateway_id(n), "100.50", seed.CURRENCY)
        for n in range(1, calls + 1)
    ]
    results: dict[str, Any] = {"calls": calls}
    with Emulator() as emulator:
        emulator.load(rows, GATEWAYS)
        for alias in GATEWAYS:
            gateway = get_gateway(alias)
            before = emulator.stats()
            for row in rows:
                invoice = Invoice(
                    pk=row.invoice_id,
                    gateway=alias,
                    gateway_id=row.gateway_id,
                    amount=Decimal(row.amount),
                    currency=row.currency,
                    status="pending",
                )
                gateway.fetch_status(invoice)
            after = emulator.stats()
            results[alias] = {
                "connections": after["connections"] - before["connections"],
                "requests": after["requests"] - before["requests"],
            }
    results["ok"] = all(results[alias]["connections"] == 1 for alias in GATEWAYS)  # the target
    return results


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    print(json.dumps(run(calls=args.calls), indent=2))


if __name__ == "__main__":
    main()
