"""pytest fixtures for shops' and backends' tests; import them into a ``conftest.py``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from django_multipay import signals
from django_multipay.testing.router import EmulatorRouter, emulators

__all__ = ["SignalLog", "emulator_router", "signal_log"]


class SignalLog:
    """Every multipay signal sent while it is connected, as ``(name, kwargs)``."""

    NAMES: ClassVar[tuple[str, ...]] = (
        "invoice_status_changed",
        "order_paid",
        "order_status_changed",
        "refund_status_changed",
        "notification_received",
    )

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self._receivers: list[tuple[Any, Any]] = []

    def connect(self) -> None:
        for name in self.NAMES:
            signal = getattr(signals, name)

            def receiver(sender: Any, _name: str = name, **kwargs: Any) -> None:
                kwargs.pop("signal", None)
                self.sent.append((_name, kwargs))

            signal.connect(receiver, weak=False)
            self._receivers.append((signal, receiver))

    def disconnect(self) -> None:
        for signal, receiver in self._receivers:
            signal.disconnect(receiver)

    def count(self, name: str) -> int:
        return sum(1 for sent, _ in self.sent if sent == name)

    def of(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for sent, kwargs in self.sent if sent == name]


@pytest.fixture
def signal_log() -> Iterator[SignalLog]:
    log = SignalLog()
    log.connect()
    yield log
    log.disconnect()


@pytest.fixture
def emulator_router(transactional_db: Any) -> Iterator[EmulatorRouter]:
    """Gateway calls to ``http://testserver/`` served by the emulators in-process, recorded
    in ``router.calls``; emulator state emptied before and after. Transactional, so signals
    (sent after commit) are seen."""
    with emulators() as router:
        yield router
