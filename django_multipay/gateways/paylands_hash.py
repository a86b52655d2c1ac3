"""The ``validation_hash`` of Paylands notifications, computed in one place."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from typing import Any

#: The notification fields the hash covers, in the order the sender encodes them
#: ("Validation using the hash of the notification": order, client and extra_data).
HASHED_FIELDS = ("order", "client", "extra_data")

#: ``sha256``: hex SHA-256 of the JSON text followed by the signature credential (the
#: document's "SHA 256 algorithm and the signature"); ``hmac-sha256``: hex HMAC-SHA256 of the
#: JSON text keyed with the signature. ``off`` skips the check (the read-back still decides).
ALGORITHMS = ("sha256", "hmac-sha256", "off")


#: What PHP's ``json_encode`` writes as ``\\uXXXX``: every character beyond ASCII. (Python's
#: ``ensure_ascii`` also escapes DEL, U+007F, which PHP writes as it is.)
_BEYOND_ASCII = re.compile(r"[^\x00-\x7f]")


def _utf16_escape(match: re.Match[str]) -> str:
    point = ord(match.group())
    if point < 0x10000:
        return f"\\u{point:04x}"
    high, low = divmod(point - 0x10000, 0x400)  # a surrogate pair, as PHP writes it
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"


def php_json(value: Any) -> str:
    """JSON text as PHP's ``json_encode`` writes it with default flags: no spaces, ``/``
    escaped as ``\\/`` (the documented sample shows ``Mozilla\\/5.0``), every character beyond
    ASCII as ``\\uXXXX`` of its UTF-16 code units in lower-case hex, control characters as
    Python writes them (the same), and DEL as it is."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return _BEYOND_ASCII.sub(_utf16_escape, text).replace("/", "\\/")


def validation_hash(
    notification: Mapping[str, Any], signature: str, algorithm: str = "sha256"
) -> str:
    """The hash Paylands puts in ``validation_hash`` for ``notification``.

    The order, client and extra_data fields (extra_data only when present) are put in one
    associative array, in that order, and JSON-encoded as PHP does; the hash is taken over that
    text and the signature credential. Key order inside each field is kept as received.
    """
    if algorithm not in ("sha256", "hmac-sha256"):
        raise ValueError(f"Unknown validation_hash algorithm {algorithm!r}")
    fields = {name: notification[name] for name in HASHED_FIELDS if name in notification}
    text = php_json(fields).encode("utf-8")
    if algorithm == "hmac-sha256":
        return hmac.new(signature.encode("utf-8"), text, hashlib.sha256).hexdigest()
    return hashlib.sha256(text + signature.encode("utf-8")).hexdigest()


def hash_matches(
    notification: Mapping[str, Any], signature: str, algorithm: str = "sha256"
) -> bool:
    """True if the notification's ``validation_hash`` is the one ``signature`` gives."""
    received = notification.get("validation_hash")
    if not isinstance(received, str) or not received:
        return False
    expected = validation_hash(notification, signature, algorithm)
    return hmac.compare_digest(expected, received.strip().lower())
