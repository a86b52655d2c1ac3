"""The one place invoice, order and refund statuses change: locked, once, signalled after commit."""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import (
    DatabaseError,
    IntegrityError,
    connection,
    transaction,
)
from django.db.models import BooleanField, Count, Field, Model, Q, Sum
from django.db.models.expressions import RawSQL
from django.db.models.signals import post_save, pre_save
from django.db.transaction import TransactionManagementError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from django_multipay import logs, money, signals
from django_multipay.display import format_money
from django_multipay.exceptions import (
    AmountMismatch,
    GatewayAPIError,
    GatewayConfigurationError,
    GatewayConnectionError,
    GatewayError,
    InvalidTransition,
    RefundError,
    RefundRefused,
)
from django_multipay.gateways.results import Outcome, RefundResult, StatusResult
from django_multipay.models import Invoice, Notification, Order, Refund
from django_multipay.registry import get_gateway
from django_multipay.status import (
    CAPTURED,
    OPEN,
    InvoiceStatus,
    NotificationResult,
    OrderStatus,
    RefundStatus,
    can_move,
    is_stale,
    order_status_for,
)

logger = logs.get_logger("django_multipay.processing")

#: Invoice statuses that only the refund flow sets.
REFUND_STATUSES = frozenset({InvoiceStatus.PARTIALLY_REFUNDED, InvoiceStatus.REFUNDED})

#: Refunds that count against the refundable amount (money promised or already given back).
RESERVING_REFUND_STATUSES = (RefundStatus.REQUESTED, RefundStatus.PENDING, RefundStatus.SUCCEEDED)


def send_after_commit(signal: Any, sender: type, **kwargs: Any) -> None:
    """Send ``signal`` once the surrounding transaction commits; never if it rolls back."""

    def send() -> None:
        for receiver, response in signal.send_robust(sender=sender, **kwargs):
            if isinstance(response, Exception):
                logger.error(
                    "Signal receiver %r failed",
                    receiver,
                    exc_info=(type(response), response, response.__traceback__),
                )

    transaction.on_commit(send)


def lock_invoice(invoice: Any, *, dedup_key: str = "") -> tuple[Order, Invoice]:
    """Lock the invoice and its order in one statement; ``invoice`` is a pk or a ``Q`` lookup.

    Every status change takes its locks here, so they are always taken the same way and two
    processes working on one payment wait for each other instead of deadlocking. The same
    statement reads whether the order has other attempts (``invoice.has_siblings``) and,
    with ``dedup_key``, whether a notification already claimed it (``invoice.key_seen``).
    Raises ``Invoice.DoesNotExist``. Must be called inside ``transaction.atomic``.
    """
    terms = _exact_terms(invoice)
    if terms is None:
        return _lock_with_orm(invoice, dedup_key)
    if connection.features.has_select_for_update and connection.get_autocommit():
        raise TransactionManagementError(
            "select_for_update cannot be used outside of a transaction."
        )
    sql, converters = _lock_statement(tuple(field for field, _value in terms), bool(dedup_key))
    params = [dedup_key] if dedup_key else []
    params += [field.get_db_prep_value(value, connection) for field, value in terms]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchmany(2)
    if not rows:
        raise Invoice.DoesNotExist("Invoice matching query does not exist.")
    if len(rows) > 1:
        raise Invoice.MultipleObjectsReturned("get() returned more than one Invoice.")
    values = list(rows[0])
    for position, (functions, expression) in converters:
        for function in functions:
            values[position] = function(values[position], expression, connection)
    split = len(_INVOICE_FIELDS)
    locked = Invoice.from_db(connection.alias, _INVOICE_NAMES, values[:split])
    order = Order.from_db(
        connection.alias, _ORDER_NAMES, values[split : split + len(_ORDER_FIELDS)]
    )
    _ORDER_FK.set_cached_value(locked, order)
    siblings = values[split + len(_ORDER_FIELDS)]
    locked.has_siblings = bool(siblings)  # type: ignore[attr-defined]
    if dedup_key:
        locked.key_seen = bool(values[-1])  # type: ignore[attr-defined]
    return order, locked


def _lock_with_orm(invoice: Any, dedup_key: str) -> tuple[Order, Invoice]:
    """The locking read built by the ORM, for a lookup :func:`lock_invoice` does not write."""
    lookup = invoice if isinstance(invoice, Q) else Q(pk=invoice)
    annotations = {"has_siblings": RawSQL(_siblings_sql(), (), output_field=BooleanField())}  # noqa: S611 - our own SQL
    if dedup_key:
        annotations["key_seen"] = RawSQL(  # noqa: S611 - our own SQL; the key is a parameter
            _claimed_sql(), (dedup_key,), output_field=BooleanField()
        )
    queryset = (
        Invoice.objects.select_related("order")
        .select_for_update()
        .annotate(**annotations)
        .order_by()  # one row: the model's default ordering would only add a sort
    )
    locked = queryset.get(lookup)
    return locked.order, locked


# -- statements built once -------------------------------------------------------------------
# The busiest path (a notification applied under its lock) sends the same few statements
# every time. Built by the ORM, each costs more Python to compile than the database takes to
# run it, so they are written here once per process, connection and shape, from the models'
# own fields; what they read becomes model instances as the ORM makes them (each column
# through its field's converters, then ``Model.from_db``). tests/test_statements.py holds
# them to what the ORM writes, column for column. A model with pre_save or post_save
# receivers (a shop's own) is saved by the ORM instead, so they still run. Only our own
# quoted table and column names are interpolated; every value is a parameter.

_INVOICE_FIELDS = tuple(Invoice._meta.concrete_fields)
_ORDER_FIELDS = tuple(Order._meta.concrete_fields)
_INVOICE_NAMES = [field.attname for field in _INVOICE_FIELDS]
_ORDER_NAMES = [field.attname for field in _ORDER_FIELDS]
_ORDER_FK = Invoice._meta.get_field("order")

#: (connection alias, statement, shape) → (SQL, converters per column that has any).
_STATEMENTS: dict[tuple[Any, ...], tuple[str, Any]] = {}


def _table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model: type[Model], field: Field[Any, Any]) -> str:
    return f"{_table(model)}.{connection.ops.quote_name(field.column)}"


def _siblings_sql() -> str:
    invoices = _table(Invoice)
    return (
        f"EXISTS (SELECT 1 FROM {invoices} sibling WHERE sibling.order_id = "  # noqa: S608
        f"{invoices}.order_id AND sibling.id <> {invoices}.id)"
    )


def _claimed_sql() -> str:
    invoices, notifications = _table(Invoice), _table(Notification)
    return (
        f"EXISTS (SELECT 1 FROM {notifications} claimed WHERE claimed.gateway = "  # noqa: S608
        f"{invoices}.gateway AND claimed.dedup_key = %s)"
    )


def _exact_terms(lookup: Any) -> list[tuple[Field[Any, Any], Any]] | None:
    """``[(field, value), …]`` for a pk, or for a ``Q`` that ANDs exact lookups of the
    invoice's own columns to values; ``None`` for any other lookup (the ORM builds those)."""
    if not isinstance(lookup, Q):
        return None if lookup is None else [(Invoice._meta.pk, lookup)]
    if lookup.negated or lookup.connector != Q.AND:
        return None
    terms: list[tuple[Field[Any, Any], Any]] = []
    for child in lookup.children:
        if not isinstance(child, tuple) or "__" in child[0] or child[1] is None:
            return None
        name, value = child
        if hasattr(value, "resolve_expression"):
            return None
        try:
            field = Invoice._meta.pk if name == "pk" else Invoice._meta.get_field(name)
        except FieldDoesNotExist:
            return None
        if not isinstance(field, Field) or not field.concrete or field.is_relation:
            return None
        terms.append((field, value))
    return terms


def _lock_statement(where: tuple[Field[Any, Any], ...], claimed: bool) -> tuple[str, Any]:
    key = (connection.alias, "lock", tuple(field.attname for field in where), claimed)
    if key not in _STATEMENTS:
        read = [(Invoice, f) for f in _INVOICE_FIELDS] + [(Order, f) for f in _ORDER_FIELDS]
        selected = [_column(model, field) for model, field in read] + [_siblings_sql()]
        if claimed:
            selected.append(_claimed_sql())
        sql = (
            f"SELECT {', '.join(selected)} FROM {_table(Invoice)} INNER JOIN {_table(Order)} "  # noqa: S608
            f"ON ({_column(Invoice, _ORDER_FK)} = {_column(Order, Order._meta.pk)}) WHERE "
            + " AND ".join(f"{_column(Invoice, field)} = %s" for field in where)
        )
        if connection.features.has_select_for_update:
            sql += " " + connection.ops.for_update_sql()
        compiler = Invoice.objects.none().query.get_compiler(connection=connection)
        columns = [field.get_col(model._meta.db_table) for model, field in read]
        _STATEMENTS[key] = (sql, sorted(compiler.get_converters(columns).items()))
    return _STATEMENTS[key]


def _saves_watched(model: type[Model]) -> bool:
    return pre_save.has_listeners(model) or post_save.has_listeners(model)


def save_fields(instance: Model, fields: Collection[str]) -> None:
    """``instance.save(update_fields=fields)``, as one UPDATE built once per field set."""
    model = type(instance)
    meta = model._meta
    names = set(fields)
    written = tuple(
        f
        for f in meta.local_concrete_fields
        if not f.primary_key and (f.name in names or f.attname in names)
    )
    if (
        _saves_watched(model)
        or len(written) != len(names)
        or instance._state.db not in (None, connection.alias)
    ):
        instance.save(update_fields=list(fields))
        return
    values = [field.pre_save(instance, False) for field in written]
    if any(hasattr(value, "resolve_expression") for value in values):
        instance.save(update_fields=list(fields))
        return
    key = (connection.alias, "update", model, tuple(field.attname for field in written))
    if key not in _STATEMENTS:
        assignments = ", ".join(f"{connection.ops.quote_name(f.column)} = %s" for f in written)
        sql = f"UPDATE {_table(model)} SET {assignments} WHERE {_column(model, meta.pk)} = %s"  # noqa: S608
        _STATEMENTS[key] = (sql, None)
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(written, values, strict=True)
    ]
    params.append(meta.pk.get_db_prep_value(instance.pk, connection))
    with connection.cursor() as cursor:
        cursor.execute(_STATEMENTS[key][0], params)
        if cursor.rowcount != 1:
            raise DatabaseError("Save with update_fields did not affect any rows.")


def insert_row(instance: Model) -> None:
    """``instance.save(force_insert=True)`` for a model with an automatic id, as one INSERT
    built once per model."""
    model = type(instance)
    meta = model._meta
    fields = tuple(
        f
        for f in meta.local_concrete_fields
        if f is not meta.auto_field and not getattr(f, "generated", False)
    )
    if (
        _saves_watched(model)
        or meta.auto_field is None
        or instance.pk is not None
        or instance._state.db not in (None, connection.alias)
        or any(f.has_db_default() for f in fields)  # type: ignore[attr-defined]
    ):
        instance.save(force_insert=True)
        return
    instance._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
    values = [field.pre_save(instance, True) for field in fields]
    if any(hasattr(value, "resolve_expression") for value in values):
        instance.save(force_insert=True)
        return
    returning = connection.features.can_return_columns_from_insert
    key = (connection.alias, "insert", model, returning)
    if key not in _STATEMENTS:
        columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
        sql = (
            f"INSERT INTO {_table(model)} ({columns}) "  # noqa: S608
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        if returning:
            sql += f" RETURNING {_column(model, meta.pk)}"
        _STATEMENTS[key] = (sql, None)
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(fields, values, strict=True)
    ]
    with connection.cursor() as cursor:
        cursor.execute(_STATEMENTS[key][0], params)
        if returning:
            pk = cursor.fetchone()[0]
        else:
            pk = connection.ops.last_insert_id(cursor, meta.db_table, meta.pk.column)
    setattr(instance, meta.pk.attname, pk)
    instance._state.adding = False
    instance._state.db = connection.alias


def _attempt_statuses(order: Order, invoice: Invoice) -> list[str]:
    """The statuses of the order's invoices, oldest first, after ``invoice``'s change.

    When the locking statement saw no other attempt, the invoice's own status is the list:
    no second read. An attempt made since is not missed: it moves the order itself when it
    changes status, under the same lock (its order's), after this one commits."""
    if not getattr(invoice, "has_siblings", True):
        return [invoice.status]
    return list(
        Invoice.objects.filter(order_id=order.pk)
        .order_by("created_at", "pk")
        .values_list("status", flat=True)
    )


def _refresh_order_status(order: Order, invoice: Invoice) -> None:
    statuses = _attempt_statuses(order, invoice)
    previous, current = order.status, order_status_for(statuses)
    if invoice.status == InvoiceStatus.PAID and statuses.count(InvoiceStatus.PAID) > 1:
        logger.error(
            "Order %s is paid by more than one invoice (latest %s); refund the extra payment",
            order.reference,
            invoice.pk,
        )
    if previous == current:
        return
    order.status = current
    save_fields(order, ["status", "updated_at"])
    send_after_commit(
        signals.order_status_changed, Order, order=order, previous=previous, current=current
    )
    if current == OrderStatus.PAID and previous != OrderStatus.PAID:
        send_after_commit(signals.order_paid, Order, order=order, invoice=invoice)


def _move(
    order: Order,
    invoice: Invoice,
    target: str,
    *,
    reason: str = "",
    changed: Collection[str] | None = None,
) -> str:
    """Change the locked invoice's status (checked against the table) and the order's.

    ``changed`` names the other fields the caller set, so only those are written; without
    it the whole row is saved."""
    previous = invoice.status
    if not can_move(previous, target):
        raise InvalidTransition(
            _("Invoice %(invoice)s cannot move from %(previous)s to %(target)s.")
            % {"invoice": invoice.pk, "previous": previous, "target": target},
            gateway=invoice.gateway,
        )
    invoice.status = target
    if reason:
        invoice.failure_reason = reason[:500]
    if changed is None:
        invoice.save()
    else:
        written = {*changed, "status", "updated_at", *(["failure_reason"] if reason else [])}
        save_fields(invoice, written)
    logger.info("Invoice %s: %s -> %s", invoice.pk, previous, target)
    send_after_commit(
        signals.invoice_status_changed, Invoice, invoice=invoice, previous=previous, current=target
    )
    _refresh_order_status(order, invoice)
    return previous


def _check_money(invoice: Invoice, result: StatusResult) -> None:
    """Refuse a gateway answer whose amount or currency is not the invoice's."""
    if result.currency is not None and result.currency.upper() != invoice.currency:
        raise AmountMismatch(
            _("Gateway reports currency %(reported)s, invoice is in %(currency)s.")
            % {"reported": result.currency, "currency": invoice.currency},
            gateway=invoice.gateway,
        )
    if result.amount is not None and money.to_decimal(result.amount) != invoice.amount:
        raise AmountMismatch(
            _("Gateway reports amount %(reported)s, invoice is %(amount)s.")
            % {"reported": result.amount, "amount": invoice.amount},
            gateway=invoice.gateway,
        )
    for name in ("captured_amount", "refunded_amount"):
        value = getattr(result, name)
        if value is not None and not (0 <= money.to_decimal(value) <= invoice.amount):
            raise AmountMismatch(
                (
                    _("Gateway reports captured amount %(reported)s, outside 0..%(amount)s.")
                    if name == "captured_amount"
                    else _("Gateway reports refunded amount %(reported)s, outside 0..%(amount)s.")
                )
                % {"reported": value, "amount": invoice.amount},
                gateway=invoice.gateway,
            )


def apply_status(
    invoice: Any,
    result: StatusResult,
    *,
    dedup_key: str = "",
    gateway_data: Any = None,
    record: Callable[[Outcome], None] | None = None,
) -> Outcome:
    """Apply a verified gateway status to an invoice (a pk or a ``Q`` lookup), once.

    Raises ``AmountMismatch`` (nothing changed) when the gateway's amount or currency differs
    from ours, and ``Invoice.DoesNotExist`` when no invoice matches. A status the table does
    not allow is refused, logged, and reported as ignored.

    ``record`` is called with the outcome inside the transaction, so what the caller writes
    about it (a notification and the de-duplication key it claims, ``outcome.claimed_key``)
    commits or rolls back with the change. A ``dedup_key`` is claimed only by a change: a
    notification that found nothing to do may be repeated later and must then count.
    """
    try:
        return _apply_once(invoice, result, dedup_key, gateway_data, record)
    except IntegrityError:
        # Two notifications of one gateway with one key, for two invoices: each found the
        # key unclaimed under its own invoice's lock, and the unique index refused the
        # second claim, rolling its change back. Applied again, it sees the key claimed and
        # is a duplicate, as it would have been had it come second.
        if not dedup_key or not Notification.objects.filter(dedup_key=dedup_key).exists():
            raise
        return _apply_once(invoice, result, dedup_key, gateway_data, record)


def _apply_once(
    invoice: Any,
    result: StatusResult,
    dedup_key: str,
    gateway_data: Any,
    record: Callable[[Outcome], None] | None,
) -> Outcome:
    with transaction.atomic():
        order, locked = lock_invoice(invoice, dedup_key=dedup_key)
        outcome = _apply_locked(order, locked, result, dedup_key, gateway_data)
        if record is not None:
            record(outcome)
        return outcome


def _apply_locked(
    order: Order, invoice: Invoice, result: StatusResult, dedup_key: str, gateway_data: Any
) -> Outcome:
    previous = invoice.status
    if dedup_key and getattr(invoice, "key_seen", False):
        return Outcome(NotificationResult.DUPLICATE, invoice.pk, previous, previous, "seen")
    _check_money(invoice, result)
    target = result.status
    if target in REFUND_STATUSES:
        # Refunds are recorded by the refund flow: one Refund row each, settled once under
        # this lock. A payment status saying "refunded" only tells us the money was taken;
        # counting its refunded amount here too would count a refund twice when its row
        # settles. The caller settles the refunds themselves (payments.sync_refunds).
        target = InvoiceStatus.PAID if previous in OPEN else previous
    # What the gateway told us is kept even when the status does not move, but written
    # only when it differs: a storm of repeats costs no writes.
    noted: list[str] = []
    if gateway_data is not None and gateway_data != invoice.gateway_data:
        invoice.gateway_data = gateway_data
        noted.append("gateway_data")
    if result.gateway_id and not invoice.gateway_id:
        taken = Invoice.objects.filter(gateway=invoice.gateway, gateway_id=result.gateway_id)
        if taken.exclude(pk=invoice.pk).exists():
            # Another invoice has that id (its unique index would refuse it, failing the
            # whole change): the status still applies, the id is left for staff.
            logger.error(
                "Invoice %s: gateway id %r belongs to another invoice; not recorded",
                invoice.pk,
                result.gateway_id,
            )
        else:
            invoice.gateway_id = result.gateway_id
            noted.append("gateway_id")
    if target == InvoiceStatus.AUTHORIZED:
        # A hold has its own lifetime, set on the move to authorized (moved when the gateway
        # names a new one, filled in on a hold that has none); reconciliation asks the
        # gateway once it has passed.
        renew = target != previous or result.hold_expires_at is not None
        lapses = _hold_lapses(invoice, result)
        if (renew or invoice.hold_expires_at is None) and lapses != invoice.hold_expires_at:
            invoice.hold_expires_at = lapses
            noted.append("hold_expires_at")
    if target == previous:
        if noted:
            save_fields(invoice, [*noted, "updated_at"])
        return Outcome(NotificationResult.DUPLICATE, invoice.pk, previous, previous, "no change")
    if is_stale(previous, target):
        if noted:
            save_fields(invoice, [*noted, "updated_at"])
        logger.info("Invoice %s: ignoring stale %s (is %s)", invoice.pk, target, previous)
        return Outcome(
            NotificationResult.IGNORED, invoice.pk, previous, previous, f"stale {target}"
        )
    if not can_move(previous, target):
        logger.error(
            "Invoice %s: gateway reports %s but %s -> %s is not allowed; needs an operator",
            invoice.pk,
            target,
            previous,
            target,
        )
        if noted:
            save_fields(invoice, [*noted, "updated_at"])
        return Outcome(
            NotificationResult.IGNORED,
            invoice.pk,
            previous,
            previous,
            f"illegal transition {previous} -> {target}",
        )
    if target in CAPTURED and invoice.captured_amount == 0:
        captured = result.captured_amount
        invoice.captured_amount = (
            money.to_decimal(captured) if captured is not None else invoice.amount
        )
        noted.append("captured_amount")
    _move(order, invoice, target, reason=result.failure_reason, changed=noted)
    return Outcome(
        NotificationResult.PROCESSED, invoice.pk, previous, target, claimed_key=dedup_key
    )


def _hold_lapses(invoice: Invoice, result: StatusResult) -> datetime | None:
    """When the invoice's hold lapses: the gateway's word, else the alias's ``hold_lifetime``
    counted from the attempt's start (the earliest the hold can have begun, so the date is
    never later than the gateway's)."""
    if result.hold_expires_at is not None:
        return result.hold_expires_at
    try:
        gateway = get_gateway(invoice.gateway)
    except GatewayConfigurationError:
        # The alias is gone from the settings: no lifetime to count; staff see the hold.
        logger.warning("Invoice %s: alias %r is not configured", invoice.pk, invoice.gateway)
        return None
    return invoice.created_at + gateway.hold_lifetime


def mark_pending(invoice_id: Any, *, gateway_id: str, redirect_url: str, **fields: Any) -> Invoice:
    """Record where the customer was sent and move created → pending; returns the invoice
    as written (no read back).

    A gateway id another invoice of the alias already has is a gateway answer we cannot use:
    the attempt fails (``GatewayAPIError``) and the other invoice keeps its id."""
    try:
        with transaction.atomic():
            order, invoice = lock_invoice(invoice_id)
            invoice.gateway_id = gateway_id
            invoice.redirect_url = redirect_url
            for name, value in fields.items():
                setattr(invoice, name, value)
            if invoice.status == InvoiceStatus.CREATED:
                _move(order, invoice, InvoiceStatus.PENDING)
            else:
                invoice.save()
        return invoice
    except IntegrityError:
        alias = Invoice.objects.values_list("gateway", flat=True).get(pk=invoice_id)
        taken = Invoice.objects.filter(gateway=alias, gateway_id=gateway_id).exclude(pk=invoice_id)
        if not gateway_id or not taken.exists():
            raise
        reason = "The gateway answered with a payment id another invoice already has."
        logger.error("Invoice %s: %s (%s)", invoice_id, reason, gateway_id)
        mark_failed(invoice_id, reason)
        raise GatewayAPIError(reason, gateway=alias) from None


def mark_failed(invoice_id: Any, reason: str) -> None:
    """The gateway refused to start the payment: the attempt has failed."""
    with transaction.atomic():
        order, invoice = lock_invoice(invoice_id)
        if can_move(invoice.status, InvoiceStatus.FAILED):
            _move(order, invoice, InvoiceStatus.FAILED, reason=reason)


# -- refunds ---------------------------------------------------------------------------------


def reserve_refund(
    invoice_id: Any,
    amount: Decimal | None,
    *,
    reason: str = "",
    user: Any = None,
    idempotency_key: str | None = None,
    partial_allowed: bool = True,
    max_refunds: int | None = None,
) -> tuple[Refund, bool]:
    """Save a requested refund, or return the existing one with the same idempotency key.

    Checked under the invoice lock, so concurrent requests can never promise back more than
    was captured. Returns ``(refund, created)``.
    """
    locked: Any = None
    try:
        with transaction.atomic():
            _order, invoice = lock_invoice(invoice_id)
            locked = invoice.pk
            return _reserve_locked(
                invoice,
                amount,
                reason=reason,
                user=user,
                idempotency_key=idempotency_key,
                partial_allowed=partial_allowed,
                max_refunds=max_refunds,
            )
    except IntegrityError:
        # Checked under the lock, but another invoice's refund took the key since: this
        # invoice's lock does not cover other invoices, the key's unique index does. Caught
        # outside the transaction, so the insert needs no savepoint of its own.
        if (
            locked is None
            or not idempotency_key
            or not Refund.objects.filter(idempotency_key=idempotency_key)
            .exclude(invoice_id=locked)
            .exists()
        ):
            raise
        raise RefundRefused(
            _("That idempotency key belongs to another invoice."),
            code="idempotency_key_reused",
        ) from None


def _reserve_locked(
    invoice: Invoice,
    amount: Decimal | None,
    *,
    reason: str,
    user: Any,
    idempotency_key: str | None,
    partial_allowed: bool,
    max_refunds: int | None,
) -> tuple[Refund, bool]:
    """:func:`reserve_refund`'s checks and insert, with ``invoice`` locked."""
    if idempotency_key:
        existing = Refund.objects.filter(idempotency_key=idempotency_key).first()
        if existing is not None:
            if existing.invoice_id != invoice.pk:
                raise RefundRefused(
                    _("That idempotency key belongs to another invoice."),
                    code="idempotency_key_reused",
                )
            return existing, False
    if invoice.status not in (InvoiceStatus.PAID, InvoiceStatus.PARTIALLY_REFUNDED):
        raise RefundRefused(
            _("Only paid invoices can be refunded; this one is %(status)s.")
            % {"status": invoice.status},
            gateway=invoice.gateway,
            code="invalid_status",
        )
    # What is promised back already, and by how many refunds: one statement.
    active = invoice.refunds.filter(status__in=RESERVING_REFUND_STATUSES).aggregate(
        total=Sum("amount"), count=Count("pk")
    )
    reserved = active["total"] or Decimal(0)
    available = invoice.captured_amount - reserved
    value = available if amount is None else money.to_decimal(amount)
    try:
        value = money.validate_amount(value, invoice.currency)
    except Exception as exc:
        raise RefundRefused(
            _("Invalid refund amount: %(reason)s") % {"reason": exc}, gateway=invoice.gateway
        ) from exc
    if value > available:
        raise RefundRefused(
            _("Refund of %(amount)s exceeds the refundable %(available)s.")
            % {
                "amount": format_money(value, invoice.currency),
                "available": format_money(available, invoice.currency),
            },
            gateway=invoice.gateway,
            code="refund_exceeds_captured",
        )
    if value < invoice.captured_amount and not partial_allowed:
        raise RefundRefused(
            _("This gateway only refunds the whole amount."), gateway=invoice.gateway
        )
    if max_refunds is not None and active["count"] >= max_refunds:
        raise RefundRefused(
            ngettext(
                "This gateway allows at most %(count)d refund per payment.",
                "This gateway allows at most %(count)d refunds per payment.",
                max_refunds,
            )
            % {"count": max_refunds},
            gateway=invoice.gateway,
        )
    refund = Refund(
        invoice=invoice,
        amount=value,
        currency=invoice.currency,
        reason=reason[:255],
        requested_by=user if getattr(user, "pk", None) else None,
    )
    if idempotency_key:
        refund.idempotency_key = idempotency_key
    refund.save(force_insert=True)
    send_after_commit(
        signals.refund_status_changed, Refund, refund=refund, previous="", current=refund.status
    )
    return refund, True


def apply_refund_result(
    refund_id: Any, result: RefundResult, *, gateway_data: Any = None, invoice_id: Any = None
) -> Refund:
    """Apply the gateway's word on a refund; a settled refund is never changed again.

    ``invoice_id``, when the caller knows it (a refund never changes invoice), saves reading
    it first."""
    with transaction.atomic():
        if invoice_id is None:
            invoice_id = Refund.objects.values_list("invoice_id", flat=True).get(pk=refund_id)
        order, invoice = lock_invoice(invoice_id)
        refund = Refund.objects.select_for_update().get(pk=refund_id, invoice_id=invoice.pk)
        refund.invoice = invoice  # the locked row: receivers read it without a query
        previous = refund.status
        if previous in (RefundStatus.SUCCEEDED, RefundStatus.FAILED) or result.status == previous:
            return refund
        if result.amount is not None and money.to_decimal(result.amount) != refund.amount:
            raise AmountMismatch(
                _("Gateway refunded %(reported)s, we asked for %(amount)s.")
                % {"reported": result.amount, "amount": refund.amount},
                gateway=invoice.gateway,
            )
        if result.currency and result.currency.upper() != refund.currency:
            raise AmountMismatch(
                _("Gateway refunded in %(reported)s, not %(currency)s.")
                % {"reported": result.currency, "currency": refund.currency},
                gateway=invoice.gateway,
            )
        refund.status = result.status
        changed = ["status", "updated_at"]
        if result.gateway_refund_id:
            refund.gateway_refund_id = result.gateway_refund_id
            changed.append("gateway_refund_id")
        if result.failure_reason:
            refund.failure_reason = result.failure_reason[:500]
            changed.append("failure_reason")
        if gateway_data is not None:
            refund.gateway_data = gateway_data
            changed.append("gateway_data")
        save_fields(refund, changed)
        send_after_commit(
            signals.refund_status_changed,
            Refund,
            refund=refund,
            previous=previous,
            current=refund.status,
        )
        if refund.status == RefundStatus.SUCCEEDED:
            invoice.refunded_amount += refund.amount
            target = (
                InvoiceStatus.REFUNDED
                if invoice.refunded_amount >= invoice.captured_amount
                else InvoiceStatus.PARTIALLY_REFUNDED
            )
            if target != invoice.status and can_move(invoice.status, target):
                _move(order, invoice, target, changed=["refunded_amount"])
            else:
                save_fields(invoice, ["refunded_amount", "updated_at"])
        return refund


#: Refunds a person may resolve: the gateway never gave a final word on them.
RESOLVABLE_REFUND_STATUSES = (RefundStatus.REQUESTED, RefundStatus.PENDING)


def resolve_refund(refund_id: Any, *, refunded: bool, user: Any, reason: str) -> Refund:
    """Record a staff decision on a refund whose outcome the gateway cannot tell.

    ``refunded=False`` ("the gateway did not refund this") fails it and frees its amount;
    ``refunded=True`` counts it as succeeded. Who, when and why are kept on the refund; the
    refund's signal is sent once, after commit. Raises ``RefundRefused`` (``reason_required``,
    ``invalid_status``) and changes nothing otherwise.
    """
    reason = (reason or "").strip()
    if not reason:
        raise RefundRefused(_("Say why: a reason is required."), code="reason_required")
    with transaction.atomic():
        invoice_id = Refund.objects.values_list("invoice_id", flat=True).get(pk=refund_id)
        lock_invoice(invoice_id)
        current = Refund.objects.select_for_update().get(pk=refund_id)
        if current.status not in RESOLVABLE_REFUND_STATUSES:
            raise RefundRefused(
                _(
                    "Refund %(refund)s is already %(status)s; only refunds of unknown outcome "
                    "can be resolved."
                )
                % {"refund": current.pk, "status": current.status},
                code="invalid_status",
            )
        name = getattr(user, "get_username", lambda: "")() or "staff"
        decision = "refunded" if refunded else "not refunded"
        result = RefundResult(
            status=RefundStatus.SUCCEEDED if refunded else RefundStatus.FAILED,
            failure_reason="" if refunded else f"Resolved by {name}: {reason}",
        )
        refund = apply_refund_result(refund_id, result, invoice_id=invoice_id)
        refund.resolved_by = user if getattr(user, "pk", None) else None
        refund.resolved_at = timezone.now()
        refund.resolution_note = f"{decision}: {reason}"[:500]
        refund.save(update_fields=["resolved_by", "resolved_at", "resolution_note", "updated_at"])
        logger.warning(
            "Refund %s of invoice %s resolved by %s as %s: %s",
            refund.pk,
            invoice_id,
            name,
            decision,
            reason,
        )
        return refund


def fail_refund(refund_id: Any, reason: str, *, invoice_id: Any = None) -> Refund:
    """The gateway definitely refused the refund."""
    return apply_refund_result(
        refund_id,
        RefundResult(status=RefundStatus.FAILED, failure_reason=reason),
        invoice_id=invoice_id,
    )


def run_refund(
    refund: Refund, call: Callable[[Refund], RefundResult], redact: Callable[[Any], Any]
) -> Refund:
    """Call the gateway for a saved refund and apply its answer.

    When the outcome is unknown (no answer, a timeout, or a 5xx: the gateway may have acted
    before failing) the refund stays ``requested`` and the error is re-raised; only a definite
    refusal (a 4xx or a declined answer) marks it failed.
    """
    try:
        result = call(refund)
    except GatewayError as exc:
        if _outcome_unknown(exc):
            reason = f"Outcome unknown ({exc.code}); the refund will be checked again."
            Refund.objects.filter(pk=refund.pk, status=RefundStatus.REQUESTED).update(
                failure_reason=reason
            )
            raise
        fail_refund(refund.pk, str(exc), invoice_id=refund.invoice_id)
        # The gateway's own error code (limit_exceeded, invalid_status...) is kept.
        raise RefundError(
            str(exc), gateway=exc.gateway, response=exc.response, code=exc.code
        ) from None
    return apply_refund_result(
        refund.pk, result, gateway_data=redact(dict(result.raw)), invoice_id=refund.invoice_id
    )


def _outcome_unknown(exc: GatewayError) -> bool:
    """True if the gateway may have acted despite the error (so it must not count as refused)."""
    if isinstance(exc, GatewayConnectionError):
        return True
    status = getattr(exc, "http_status", None)
    # Only a 4xx is a refusal; a 5xx, or a 2xx/3xx whose body cannot be read, may hide a refund.
    return isinstance(exc, GatewayAPIError) and (status is None or not 400 <= status < 500)
