"""In-memory state shared by the emulators of one process, safe across threads."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class EmulatorStore:
    """Named tables of dicts behind one lock. ``reset()`` empties everything (tests call it)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._tables: dict[str, dict[str, Any]] = {}

    @contextmanager
    def table(self, name: str) -> Iterator[dict[str, Any]]:
        """Hold the lock while using table ``name`` (created empty on first use)."""
        with self._lock:
            yield self._tables.setdefault(name, {})

    def reset(self) -> None:
        with self._lock:
            self._tables.clear()


store = EmulatorStore()
