"""The demo's Postpay webhook on the built-in emulator, registered once the server answers."""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.conf import settings
from django.core.management import CommandError, call_command
from django.core.signals import request_started

logger = logging.getLogger("shop.hooks")

_lock = threading.Lock()
_started = False


def _register() -> None:
    try:
        call_command("multipay_postpay_hooks", "create", "--alias", "postpay")
    except (CommandError, OSError) as exc:
        logger.warning("The Postpay webhook was not registered: %s", exc)


def register_postpay_hook(sender: Any, **kwargs: Any) -> None:
    """``request_started``: once per server process, create the Postpay webhook.

    The emulator answers from this same process and keeps its hooks in memory, so the hook
    can only be created once the server is up, and anew on every start; the first request
    is the earliest sign of both. It runs beside that request, which it does not delay.
    """
    global _started
    with _lock:
        if _started:
            return
        _started = True
    request_started.disconnect(register_postpay_hook, dispatch_uid="shop.postpay_hook")
    threading.Thread(target=_register, name="postpay-hook", daemon=True).start()


def connect() -> None:
    """Connect the registration when settings.DEMO_POSTPAY_HOOK asks for it."""
    if getattr(settings, "DEMO_POSTPAY_HOOK", False):
        request_started.connect(register_postpay_hook, dispatch_uid="shop.postpay_hook")
