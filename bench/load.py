"""Closed-loop HTTP load: N threads, each sending pre-built requests one after another."""

from __future__ import annotations

import itertools
import socket
import statistics
import threading
import time
from collections.abc import Sequence
from typing import Any, NamedTuple

SAMPLE_BODIES = 5


class Answer(NamedTuple):
    done: float  # perf_counter() when the answer was complete
    latency: float  # seconds
    status: int
    body: bytes  # kept for non-2xx answers only


def build_request(
    host: str, port: int, path: str, body: bytes, headers: dict[str, str] | None = None
) -> bytes:
    """A complete HTTP/1.1 POST; ``Connection: close`` as gunicorn's sync workers answer."""
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in (headers or {}).items()),
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _exchange(address: tuple[str, int], request: bytes) -> tuple[int, bytes]:
    """Send one request on a new connection and read the answer until the server closes."""
    with socket.create_connection(address, timeout=30) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        status = 0  # not HTTP: counted as a failure
    return status, body


def run(
    requests: Sequence[bytes],
    *,
    host: str = "127.0.0.1",
    port: int = 8030,
    threads: int = 4,
    warmup: float = 3.0,
    seconds: float = 30.0,
) -> dict[str, Any]:
    """Send ``requests`` in order (each once) from ``threads`` closed loops for ``warmup`` +
    ``seconds``; figures count the answers completed within the measured ``seconds``.

    Returns requests/s, p50/p99/mean (ms), count, non-2xx count and share, a sample of
    non-2xx bodies, ``sent`` (requests sent in all, warm-up and tail included: the first
    ``sent`` of ``requests``) and ``exhausted`` (the requests ran out before the end)."""
    address = (host, port)
    indexes = itertools.count()  # next() is atomic under the GIL: each request goes once
    answers: list[Answer] = []
    exhausted = threading.Event()
    cpu_start = time.process_time()
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    def loop() -> None:
        while time.perf_counter() < stop_at:
            index = next(indexes)
            if index >= len(requests):
                exhausted.set()
                return
            began = time.perf_counter()
            try:
                status, body = _exchange(address, requests[index])
            except OSError as exc:
                status, body = 0, f"{type(exc).__name__}: {exc}".encode()
            ended = time.perf_counter()
            answers.append(Answer(ended, ended - began, status, b"" if status < 300 else body))

    workers = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    finished = time.perf_counter()
    cpu = time.process_time() - cpu_start
    measured = [a for a in answers if measure_from <= a.done < stop_at]
    # If the requests ran out, the window ends at the last answer (reported as exhausted).
    window = min(stop_at, finished) - measure_from
    latencies = sorted(a.latency * 1000 for a in measured)
    failed = [a for a in measured if not 200 <= a.status < 300]
    failed_all = [a for a in answers if not 200 <= a.status < 300]
    return {
        "requests_per_s": round(len(measured) / window, 1) if window > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "mean_ms": round(statistics.fmean(latencies), 2) if latencies else 0.0,
        "count": len(measured),
        "non_2xx": len(failed),
        "non_2xx_share": round(len(failed) / len(measured), 4) if measured else 0.0,
        "non_2xx_all": len(failed_all),
        "non_2xx_samples": [
            f"{a.status}: {a.body[:300].decode(errors='replace')}"
            for a in failed_all[:SAMPLE_BODIES]
        ],
        "sent": len(answers),
        "threads": threads,
        "warmup_s": warmup,
        "seconds": round(window, 2),
        "exhausted": exhausted.is_set(),
        # The client's own CPU (all its threads) per second of the run: what it took from
        # the two cores the server and PostgreSQL share with it.
        "client_cpu_share": round(cpu / (finished - start), 3),
    }


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of sorted ``values`` (0 when empty)."""
    if not values:
        return 0.0
    rank = max(1, -(-len(values) * pct // 100))  # ceil(n * pct / 100)
    return float(values[int(rank) - 1])
