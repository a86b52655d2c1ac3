"""Racing real requests: threads with their own connections, and a real HTTP server to race on."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import connection
from django.test.testcases import LiveServerThread

#: Long enough that a thread never gives up while the others queue on the same row.
WAIT = 60.0


def race(calls: list[Callable[[], Any]], *, timeout: float = WAIT) -> list[Any]:
    """Run every call in its own thread (and database connection), all released at once.

    Returns each call's result, or the exception it raised, in order. Use it in tests marked
    ``django_db(transaction=True)``: each thread commits for real.
    """
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            connection.ensure_connection()  # Connected before the start: racing on rows only.
            barrier.wait(timeout=timeout)
            results[index] = call()
        except BaseException as exc:
            results[index] = exc
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(i, call), name=f"race-{i}")
        for i, call in enumerate(calls)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    if any(thread.is_alive() for thread in threads):
        raise TimeoutError("a racing thread never finished")
    return results


class _BurstServer(ThreadedWSGIServer):
    # Django's default listen backlog is 10; a burst beyond it would be dropped and retried
    # by the kernel a second later, slowing every round.
    request_queue_size = 128


class _BurstServerThread(LiveServerThread):
    server_class = _BurstServer


@contextmanager
def http_server(host: str = "127.0.0.1") -> Iterator[str]:
    """Serve the project's URLconf (emulators included) over real HTTP; yields its base URL.

    The machinery of pytest-django's ``live_server``, without static files and with a deep
    listen backlog for bursts of concurrent connections.
    """
    # No static files: the handler wraps nothing.
    thread = _BurstServerThread(host, static_handler=lambda app: app)  # type: ignore[arg-type]
    thread.daemon = True
    thread.start()
    thread.is_ready.wait(timeout=WAIT)
    if thread.error:
        raise thread.error
    try:
        yield f"http://{thread.host}:{thread.port}"
    finally:
        thread.terminate()
