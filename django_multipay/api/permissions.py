"""Who may see and do what: owners see their orders, staff see all, money moves need perms."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from django_multipay.models import Invoice, Notification, Order, Refund

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise


def sees_everything(user: Any) -> bool:
    """Staff see every order, invoice and refund; other users only their own."""
    return bool(getattr(user, "is_active", False) and getattr(user, "is_staff", False))


def visible_orders(user: Any) -> QuerySet[Order]:
    orders = Order.objects.all()
    return orders if sees_everything(user) else orders.filter(user_id=user.pk)


def visible_invoices(user: Any) -> QuerySet[Invoice]:
    invoices = Invoice.objects.select_related("order")
    return invoices if sees_everything(user) else invoices.filter(order__user_id=user.pk)


def visible_refunds(user: Any) -> QuerySet[Refund]:
    refunds = Refund.objects.all()
    return refunds if sees_everything(user) else refunds.filter(invoice__order__user_id=user.pk)


def visible_notifications(user: Any) -> QuerySet[Notification]:
    return Notification.objects.all() if sees_everything(user) else Notification.objects.none()


class ActionPermissions(BasePermission):
    """The model permissions a view lists for the current action in ``action_permissions``
    (``"*"`` for every action), checked before any object is looked up."""

    message: str | StrPromise = _("You do not have permission to do this.")

    def has_permission(self, request: Request, view: Any) -> bool:
        wanted = getattr(view, "action_permissions", {})
        perms = (*wanted.get("*", ()), *wanted.get(getattr(view, "action", None), ()))
        if perms and not request.user.has_perms(perms):
            self.message = ngettext(
                "You need the %(permissions)s permission.",
                "You need the %(permissions)s permissions.",
                len(perms),
            ) % {"permissions": ", ".join(perms)}
            return False
        return True


class IsStaff(BasePermission):
    """Active staff members only (the notification log is an operator's tool)."""

    message = _("Only staff can see notifications.")

    def has_permission(self, request: Request, view: Any) -> bool:
        return sees_everything(request.user)


class IsStaffResolver(IsStaff):
    """Active staff members only: deciding a refund's outcome is an operator's call."""

    message = _("Only staff can resolve a refund.")
