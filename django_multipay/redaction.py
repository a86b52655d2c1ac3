"""Removing secrets from text, headers and gateway answers before they are logged or stored."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "********"

#: Keys whose values are secret wherever they appear in a gateway answer or request.
#: Signatures are not here: an HMAC reveals nothing, and keeping it lets a stored
#: notification be authenticated again.
SECRET_KEY_PATTERN = re.compile(
    r"(secret|password|passwd|token|api[_-]?key|app[_-]?key|authorization|card_?number|cvv|cvc|pan)$",
    re.IGNORECASE,
)


class Redactor:
    """Masks known secret values and values under secret-looking keys."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self.secrets:
            value = value.replace(secret, MASK)
        return value

    def headers(self, headers: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
        hidden = {h.lower() for h in extra}
        return {
            name: MASK
            if name.lower() in hidden or SECRET_KEY_PATTERN.search(name)
            else self.text(v)
            for name, v in headers.items()
        }

    def data(self, value: Any) -> Any:
        """A deep copy of JSON-like data with secrets masked."""
        if isinstance(value, Mapping):
            return {
                str(k): MASK
                if isinstance(k, str) and SECRET_KEY_PATTERN.search(k) and v not in (None, "")
                else self.data(v)
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self.data(v) for v in value]
        if isinstance(value, str):
            return self.text(value)
        return value
