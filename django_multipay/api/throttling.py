"""Rate limits on the endpoints that call a gateway with money: off until the shop sets a rate."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import ScopedRateThrottle

#: The throttle scope of each throttled action; the shop sets each one's rate in
#: ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` (docs/rest-api.md, "Rate limits").
PAY_SCOPE = "multipay_pay"
REFUND_SCOPE = "multipay_refund"


class MultipayScopedRateThrottle(ScopedRateThrottle):
    """DRF's ``ScopedRateThrottle`` with the scope taken from the view's action
    (``throttle_scopes``), and no limit while the shop sets no rate for that scope (DRF's own
    raises ``ImproperlyConfigured`` then). Counts per user, or per client address when
    anonymous, in Django's default cache, as DRF does.

    The rates are read on every request rather than when the class is defined (DRF's
    ``THROTTLE_RATES``), so ``override_settings`` and a settings change both apply."""

    def allow_request(self, request: Request, view: Any) -> bool:
        scopes: dict[str, str] = getattr(view, "throttle_scopes", {})
        self.scope = scopes.get(getattr(view, "action", None) or "", "")
        rates: dict[str, Any] = dict(api_settings.DEFAULT_THROTTLE_RATES or {})
        rate = rates.get(self.scope) if self.scope else None
        if rate is None:
            return True
        self.rate = str(rate)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        # SimpleRateThrottle's: count the request in the cache, refuse once over the rate.
        return super(ScopedRateThrottle, self).allow_request(request, view)
