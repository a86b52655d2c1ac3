"""The emulators answer only where test-only parts may run: with DEBUG, or when opted in."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.urls import URLPattern, URLResolver

from django_multipay.conf import allows_test_gateways

_P = TypeVar("_P", bound=URLPattern | URLResolver)

#: The body of the refusal. A 404, as if the emulators were not mounted (which is what a
#: production URLconf should say), with the reason for whoever reads it.
REFUSAL = (
    "Not found: the payment gateway emulators are served only with DEBUG = True"
    " (test settings may set MULTIPAY['ALLOW_TEST_GATEWAYS'] = True).\n"
)


def refuse_outside_debug(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap an emulator view so it answers 404 unless test-only parts may run, decided on
    each request (so ``override_settings`` and a server without system checks both see it)."""

    @functools.wraps(view)  # keeps csrf_exempt and the other markers of the view
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not allows_test_gateways():
            return HttpResponseNotFound(REFUSAL, content_type="text/plain; charset=utf-8")
        return view(request, *args, **kwargs)

    return wrapper


def guarded(patterns: Sequence[_P]) -> list[_P]:
    """``patterns`` with each view wrapped by :func:`refuse_outside_debug`. Includes are left
    as they are: every emulator module guards its own ``urlpatterns``."""
    result: list[_P] = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            wrapped = URLPattern(
                pattern.pattern,
                refuse_outside_debug(pattern.callback),
                pattern.default_args,
                pattern.name,
            )
            result.append(cast(_P, wrapped))
        else:
            result.append(pattern)
    return result
