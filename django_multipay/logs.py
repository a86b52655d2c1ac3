"""Structured log fields: each line about a payment carries its alias, invoice and notification."""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

#: The record attributes set, in the order a formatter may list them.
FIELDS = ("alias", "invoice_id", "notification_id")

_fields: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "multipay_log_fields", default=None
)


@contextmanager
def scope(**fields: Any) -> Iterator[None]:
    """Within the block, every django_multipay log line carries ``fields`` (among
    :data:`FIELDS`) as record attributes, over those of an enclosing scope."""
    outer = _fields.get()
    token = _fields.set({**(outer or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _fields.reset(token)


def bind(**fields: Any) -> None:
    """Add ``fields`` to the scope open here, once they are known (the notification's id
    once stored, the invoice once found); outside a scope, nothing (a thread reused for the
    next request must not inherit them)."""
    current = _fields.get()
    if current is not None:
        current.update({k: v for k, v in fields.items() if v is not None})


class PaymentFields(logging.Filter):
    """Sets the scope's fields on each record as attributes (``extra`` given to the call
    wins), as strings, so a JSON formatter emits them as fields of their own."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _fields.get()
        if current:
            for name, value in current.items():
                if not hasattr(record, name):
                    setattr(record, name, str(value))
        return True


_FILTER = PaymentFields()


def get_logger(name: str) -> logging.Logger:
    """``logging.getLogger(name)`` with :class:`PaymentFields` on it."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger


def for_invoice(function: F) -> F:
    """Run ``function(invoice, ...)`` in a scope naming the invoice and its alias."""

    @functools.wraps(function)
    def wrapper(invoice: Any, *args: Any, **kwargs: Any) -> Any:
        with scope(
            alias=getattr(invoice, "gateway", None), invoice_id=getattr(invoice, "pk", None)
        ):
            return function(invoice, *args, **kwargs)

    return wrapper  # type: ignore[return-value]
