"""Who may see operational details: the health checks' facts and the metrics exposition.

Kept apart from ``health`` (which runs the checks, and so reaches reconciliation) so that
``metrics``, which the gateway backends import for their counters, needs nothing above them.
"""

from __future__ import annotations

import hmac

from django.http import HttpRequest

from django_multipay.conf import multipay_settings


def may_see_details(request: HttpRequest) -> bool:
    """Staff signed in, or a request bearing ``HEALTH_TOKEN`` (compared in constant time)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_active and user.is_staff:
        return True
    token = multipay_settings.HEALTH_TOKEN
    given = request.headers.get("Authorization", "")
    scheme, _, value = given.partition(" ")
    if not token or scheme.lower() != "bearer" or not value:
        return False
    return hmac.compare_digest(value.strip().encode(), str(token).encode())
