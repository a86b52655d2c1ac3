"""Where a dummy notification's time goes, stage by stage, next to the floor (in-process)."""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from bench import scale, seed

#: (label, module or class, attribute): the stages timed, outermost first. They nest, so
#: their times do not add up. The row writes are processing's statements built once: the
#: invoice, order and notification UPDATEs ("save_fields") and the notification's INSERT.
STAGES = (
    ("whole request (test client)", None, None),
    ("notify flow", "django_multipay.notifications", "handle"),
    ("lock invoice and order", "django_multipay.processing", "lock_invoice"),
    ("move status (invoice + order)", "django_multipay.processing", "_move"),
    ("row UPDATEs (save_fields)", "django_multipay.processing", "save_fields"),
    ("notification INSERT (insert_row)", "django_multipay.processing", "insert_row"),
    ("COMMIT", "django.db.backends.postgresql.base:DatabaseWrapper", "_commit"),
    ("capture raw request", "django_multipay.notifications", "capture"),
    ("check signature, parse", "django_multipay.gateways.dummy:DummyGateway", "parse_notification"),
)


def _owner(path: str) -> Any:
    import importlib

    module, _, name = path.partition(":")
    found = importlib.import_module(module)
    return getattr(found, name) if name else found


def _timed(totals: Counter[str], label: str, function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - began

    return wrapper


def _send(path: str, targets: Sequence[seed.Target]) -> float:
    """Post each target's signed notification to ``path``; seconds in all."""
    return sum(scale.measure(targets, path))


def run(*, notifications: int = 2000, warmup: int = 300) -> dict[str, Any]:
    """Time ``notifications`` first "paid" notifications through our view, by stage, and as
    many through the floor view, one thread, on distinct seeded invoices."""
    seed.setup_django()
    seed.prepare_database()
    each = warmup + notifications
    seed.seed_invoices(1, 2 * each)
    seed.vacuum_analyze()
    ours, floor = seed.targets(each), seed.targets(each, first=each + 1)

    _send("/floor/notify/", floor[:warmup])
    floor_ms = _send("/floor/notify/", floor[warmup:]) * 1000 / notifications

    totals: Counter[str] = Counter()
    originals = []
    for label, owner_path, name in STAGES[1:]:
        assert owner_path is not None
        assert name is not None
        owner = _owner(owner_path)
        originals.append((owner, name, getattr(owner, name)))
        setattr(owner, name, _timed(totals, label, getattr(owner, name)))
    try:
        _send("/payments/notify/dummy/", ours[:warmup])
        totals.clear()
        whole = _send("/payments/notify/dummy/", ours[warmup:])
    finally:
        for owner, name, original in originals:
            setattr(owner, name, original)
    totals[STAGES[0][0]] = whole
    stages = {label: round(totals[label] * 1000 / notifications, 3) for label, *_ in STAGES}
    return {
        "notifications": notifications,
        "stages_ms": stages,
        "floor_ms": round(floor_ms, 3),
        "ours_over_floor": round(stages[STAGES[0][0]] / floor_ms, 2),
    }


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--notifications", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(run(notifications=args.notifications, warmup=args.warmup), indent=2))


if __name__ == "__main__":
    main()
