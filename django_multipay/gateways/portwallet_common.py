"""What PortPos (API v2) and its legacy form, PortWallet (API v1), share: the request token."""

from __future__ import annotations

import hashlib
import time


def unix_time() -> int:
    """Seconds since the epoch, as both APIs expect in their tokens."""
    return int(time.time())


def md5_token(secret_key: str, timestamp: int) -> str:
    """``md5(secret_key + timestamp)`` in lower-case hex (PortWallet v1 ``token``; the second
    half of the PortPos v2 Authorization header)."""
    return hashlib.md5(f"{secret_key}{timestamp}".encode(), usedforsecurity=False).hexdigest()
