"""The contract every gateway backend meets, and what each declares it can do."""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.utils.module_loading import import_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from django_multipay import metrics
from django_multipay.conf import allows_test_gateways, multipay_settings
from django_multipay.exceptions import (
    GatewayAPIError,
    GatewayConfigurationError,
    InvalidRequest,
    UnsupportedOperation,
)
from django_multipay.gateways.http import HttpClient
from django_multipay.gateways.results import (
    InboundRequest,
    NotificationEvent,
    Outcome,
    PaymentStart,
    PaymentUrls,
    RefundReport,
    RefundResult,
    SettlementLine,
    StatusResult,
)
from django_multipay.redaction import Redactor

if TYPE_CHECKING:
    import requests

    from django_multipay.models import Invoice, Order, Refund


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do. The core refuses anything not declared, before any call."""

    refund: bool = False
    partial_refund: bool = False
    #: How many refunds one invoice may have (``None``: no documented limit).
    max_refunds: int | None = None
    #: The gateway de-duplicates refund requests by our idempotency key, so a refund whose
    #: outcome is unknown (timeout) may be sent again. Without it a retry is refused.
    idempotent_refunds: bool = False
    capture: bool = False
    cancel: bool = False
    fetch_status: bool = True
    list_refunds: bool = False
    #: The gateway reports what it pays out per payment (fees, net, payout date).
    settlement: bool = False
    #: Notifications carry a signature we check (otherwise only the server-side read counts).
    signed_notifications: bool = False
    #: ISO 4217 codes the gateway takes (``None``: any).
    currencies: frozenset[str] | None = None
    #: Smallest amount per payment, in major units (``None``: no documented minimum).
    min_amount: Decimal | None = None
    max_amount: Decimal | None = None


#: How deep an object or list option may nest, and the largest whole number any option may
#: hold anywhere: what every gateway's JSON parser reads exactly (2**53 - 1, the largest
#: integer a JSON number keeps in IEEE 754 doubles).
MAX_OPTION_DEPTH = 8
MAX_OPTION_INTEGER = 2**53 - 1

#: The JSON types a per-payment option may take, each with what a value of another type is
#: told (marked for translation, translated when raised).
OPTION_TYPES: dict[type, str] = {
    bool: gettext_noop("must be true or false"),
    int: gettext_noop("must be a whole number"),
    str: gettext_noop("must be a string"),
    dict: gettext_noop("must be an object"),
    list: gettext_noop("must be a list"),
}


#: The contract's operations, as the gateway call latency metric names them.
CONTRACT_OPERATIONS = (
    "start_payment",
    "parse_notification",
    "fetch_status",
    "fetch_statuses",
    "verify_notification",
    "verify_return",
    "reconcile_status",
    "settlement",
    "capture",
    "cancel",
    "refund",
    "list_refunds",
    "refund_report",
)


@dataclass(frozen=True)
class PaymentOption:
    """One gateway option that the shop's code or its staff may set for one payment.

    :meth:`check` takes a value through, in order: its JSON type (``bool`` is never an
    ``int``), ``normalize``, ``choices``, the range (``min_value``/``max_value`` for numbers,
    ``min_length``/``max_length`` for strings and lists), ``pattern``, the allowed ``keys`` of
    an object, and last ``clean`` (structured values; it raises ``ValueError``).
    """

    type: type
    help_text: str = ""
    choices: tuple[Any, ...] | None = None
    min_value: int | None = None
    max_value: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None
    keys: frozenset[str] | None = None
    normalize: Callable[[Any], Any] | None = None
    clean: Callable[[Any], Any] | None = None
    #: Weakens security or acts on stored credentials: refused unless the alias lists it in
    #: ``allow_sensitive_payment_options``.
    sensitive: bool = False
    #: Values of a sensitive option that weaken nothing (``secure: True``).
    safe_values: tuple[Any, ...] = ()
    #: How deep an object or list value may nest (1: no containers inside it).
    max_depth: int = MAX_OPTION_DEPTH

    def check(self, value: Any) -> Any:
        """The value as it will be stored, or ``ValueError`` saying what is wrong."""
        # Stored on the invoice (a JSON field) and sent on the wire: plain, finite JSON only,
        # checked without recursion so no shape of value can exhaust the stack.
        problem = json_problem(value, self.max_depth)
        if problem:
            raise ValueError(problem)
        accepted: dict[type, tuple[type, ...]] = {list: (list, tuple), dict: (Mapping,)}
        right = isinstance(value, accepted.get(self.type, self.type))
        if not right or (self.type is int and isinstance(value, bool)):
            if self.type in OPTION_TYPES:
                raise ValueError(_(OPTION_TYPES[self.type]))
            # Translators: %(type)s is a Python type name (float, tuple).
            raise ValueError(_("must be %(type)s") % {"type": self.type.__name__})
        if self.type in (list, dict):
            value = self.type(value)
        if self.normalize is not None:
            value = self.normalize(value)
        if self.choices is not None and value not in self.choices:
            choices = ", ".join(str(c) for c in self.choices)
            raise ValueError(_("must be one of %(choices)s") % {"choices": choices})
        if self.min_value is not None and value < self.min_value:
            raise ValueError(_("must be at least %(minimum)s") % {"minimum": self.min_value})
        if self.max_value is not None and value > self.max_value:
            raise ValueError(_("must be at most %(maximum)s") % {"maximum": self.max_value})
        if self.min_length is not None and len(value) < self.min_length:
            # Translators: the value is a string (characters) or a list (items).
            message = _("must have at least %(minimum)s characters or items")
            raise ValueError(message % {"minimum": self.min_length})
        if self.max_length is not None and len(value) > self.max_length:
            # Translators: the value is a string (characters) or a list (items).
            message = _("must have at most %(maximum)s characters or items")
            raise ValueError(message % {"maximum": self.max_length})
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            # Translators: %(pattern)s is a regular expression, shown as it is.
            raise ValueError(_("must match %(pattern)s") % {"pattern": self.pattern})
        if self.keys is not None:
            unknown = sorted(str(k) for k in set(value) - self.keys)
            if unknown:
                raise ValueError(
                    # Translators: the keys of a JSON object; both lists stay as written.
                    _("unknown keys %(unknown)s; allowed: %(allowed)s")
                    % {"unknown": ", ".join(unknown), "allowed": ", ".join(sorted(self.keys))}
                )
        if self.clean is not None:
            value = self.clean(value)
        return value

    def is_sensitive(self, value: Any) -> bool:
        """Whether ``value`` of this option needs the alias's opt-in."""
        return self.sensitive and value not in self.safe_values


def json_problem(value: Any, max_depth: int = MAX_OPTION_DEPTH) -> str | None:
    """What keeps ``value`` from being plain JSON a gateway can read, or ``None``: objects
    with string keys, lists, strings, booleans, ``null``, whole numbers within
    :data:`MAX_OPTION_INTEGER` and finite numbers, nested at most ``max_depth`` deep.
    Walked with a stack, not recursion."""
    stack: list[tuple[Any, int, str]] = [(value, 0, "")]
    while stack:
        item, depth, where = stack.pop()
        if item is None or isinstance(item, (str, bool)):
            continue
        if isinstance(item, int):
            if abs(item) <= MAX_OPTION_INTEGER:
                continue
            problems = (
                # Translators: %(where)s is a path inside the value (customer.age, items[2]).
                _("holds a number too large at %(where)s (at most %(maximum)s)"),
                _("holds a number too large (at most %(maximum)s)"),
            )
        elif isinstance(item, float):
            if math.isfinite(item):
                continue
            problems = (
                _("holds a number that is not finite at %(where)s"),
                _("holds a number that is not finite"),
            )
        elif isinstance(item, (Mapping, list, tuple)) and depth >= max_depth:
            problems = (
                _("nests deeper than %(depth)s levels at %(where)s"),
                _("nests deeper than %(depth)s levels"),
            )
        elif isinstance(item, Mapping) and not all(isinstance(key, str) for key in item):
            problems = (
                _("has a key that is not a string at %(where)s"),
                _("has a key that is not a string"),
            )
        elif isinstance(item, Mapping):
            stack.extend(
                (v, depth + 1, f"{where}.{k}" if where else str(k)) for k, v in item.items()
            )
            continue
        elif isinstance(item, (list, tuple)):
            stack.extend((v, depth + 1, f"{where}[{i}]") for i, v in enumerate(item))
            continue
        else:
            problems = (
                # Translators: %(type)s is a Python type name (set, bytes, Decimal).
                _("holds a %(type)s at %(where)s, which is not JSON"),
                # Translators: %(type)s is a Python type name (set, bytes, Decimal).
                _("holds a %(type)s, which is not JSON"),
            )
        params = {"where": where, "maximum": MAX_OPTION_INTEGER, "depth": max_depth}
        return problems[0 if where else 1] % {**params, "type": type(item).__name__}
    return None


def load_callable(value: Any, name: str) -> Callable[..., Any]:
    """A callable, or the one a dotted path names; ``GatewayConfigurationError`` otherwise."""
    if isinstance(value, str):
        try:
            value = import_string(value)
        except ImportError as exc:
            raise GatewayConfigurationError(
                # Translators: %(name)s names a setting; %(path)s is a dotted Python path.
                _("%(name)s: cannot import %(path)s: %(error)s")
                % {"name": name, "path": repr(value), "error": exc}
            ) from None
    if not callable(value):
        raise GatewayConfigurationError(
            _("%(name)s must be a callable or its dotted path.") % {"name": name}
        )
    return value  # type: ignore[no-any-return]


#: What an alias option of another type is told, by declared type (``float``: any number).
CONFIG_TYPES: dict[type, str] = {**OPTION_TYPES, float: gettext_noop("must be a number")}


@dataclass(frozen=True)
class GatewayOption:
    """One option an alias sets in ``OPTIONS``, as its backend declares it
    (:attr:`BaseGateway.declared_options`); :meth:`BaseGateway.option_problems` checks it."""

    name: str
    #: ``bool``, ``int``, ``float`` (any number), ``str``, ``dict`` or ``list`` (a tuple too);
    #: ``None``: its reader checks it, a rule of the backend (:meth:`BaseGateway.clean_options`).
    type: type | None = str
    #: Must be present and non-empty (system check ``multipay.E004``).
    required: bool = False
    #: Redacted from every log line, error and stored answer.
    secret: bool = False
    #: What the backend uses when the alias does not set it (as its page says).
    default: Any = None
    help: str = ""

    def type_problem(self, value: Any) -> str | None:
        """What a value of the wrong type is told, or ``None``. ``bool`` is never a number;
        an unset value (``None``, ``""``) is not checked."""
        if self.type is None or value is None or (isinstance(value, str) and not value):
            return None
        accepted = {float: (int, float), list: (list, tuple), dict: (Mapping,)}.get(self.type)
        right = isinstance(value, accepted or self.type)
        if right and (self.type is bool or not isinstance(value, bool)):
            return None
        if self.type in CONFIG_TYPES:
            return _(CONFIG_TYPES[self.type])
        return _("must be %(type)s") % {"type": self.type.__name__}


@dataclass(frozen=True)
class OptionProblem:
    """One thing wrong with an alias's ``OPTIONS`` (:meth:`BaseGateway.option_problems`)."""

    #: ``missing`` (system check ``multipay.E004``), ``type`` (``E019``) or ``rule``, one
    #: of the backend's own (``E020``).
    kind: Literal["missing", "type", "rule"]
    option: str
    #: A translated sentence naming the alias, never an option's value.
    message: str


#: Options every backend reads (docs/settings.md, "Options common to every backend"); those
#: without a type are checked by their readers and by ``multipay.E006`` / ``E007``.
COMMON_DECLARED = (
    GatewayOption("sandbox", bool, default=False),
    GatewayOption("base_url"),
    GatewayOption("timeout", None),
    GatewayOption("retries", int),
    GatewayOption("allow_sensitive_payment_options", None),
    GatewayOption("customer_id", None),
    GatewayOption("hold_lifetime", None),
)
COMMON_OPTIONS = tuple(option.name for option in COMMON_DECLARED)

#: Operation names accepted by :meth:`BaseGateway.require`.
OPERATIONS = (
    "refund",
    "partial_refund",
    "capture",
    "cancel",
    "fetch_status",
    "list_refunds",
    "settlement",
)
#: What :meth:`BaseGateway.require` says of each operation a backend does not declare
#: (marked for translation, translated when raised).
UNSUPPORTED: dict[str, str] = {
    "refund": gettext_noop("%(gateway)s does not support refund."),
    "partial_refund": gettext_noop("%(gateway)s does not support partial refund."),
    "capture": gettext_noop("%(gateway)s does not support capture."),
    "cancel": gettext_noop("%(gateway)s does not support cancel."),
    "fetch_status": gettext_noop("%(gateway)s does not support fetch status."),
    "list_refunds": gettext_noop("%(gateway)s does not support list refunds."),
    "settlement": gettext_noop("%(gateway)s does not support settlement."),
}


#: What reading a gateway's answer raises when the answer is not what its document says: a
#: missing key, a wrong type, a number or date that does not parse, an amount money refuses.
UNREADABLE = (KeyError, TypeError, ValueError, AttributeError, ValidationError, InvalidOperation)


@dataclass(frozen=True)
class ApiCall:
    """One call to a gateway's API, as :meth:`BaseGateway.call` hands it to the hooks."""

    method: str
    path: str
    #: The backend's own choices for this call, for its hooks (PortOne's ``refund``).
    options: Mapping[str, Any] = field(default_factory=dict)


class BaseGateway:
    """Translates between our models and one gateway's wire format. Never saves, never signals.

    Subclasses set :attr:`capabilities` and :attr:`declared_options` and implement the
    operations they declare.
    """

    #: A human name for admin pages and errors.
    display_name: ClassVar[str] = "Gateway"
    capabilities: ClassVar[Capabilities] = Capabilities()
    #: Every option an alias of the backend reads beyond :data:`COMMON_DECLARED`. ``None``:
    #: not declared, so a misspelt option is not reported (system check ``multipay.W005``); a
    #: subclass that reads more adds its own: ``(*Parent.declared_options, GatewayOption(...))``.
    declared_options: ClassVar[tuple[GatewayOption, ...] | None] = None
    #: Derived from :attr:`declared_options` (set by hand only where nothing is declared):
    #: options that must be present and non-empty (``multipay.E004``), and those whose values
    #: are secrets, redacted from every log line, error and stored answer.
    required_options: ClassVar[tuple[str, ...]] = ()
    secret_options: ClassVar[tuple[str, ...]] = ()
    #: API addresses; ``base_url`` in the options overrides both.
    live_base_url: ClassVar[str] = ""
    sandbox_base_url: ClassVar[str] = ""
    #: This backend's emulator, named, never imported: its views module (served under
    #: ``sandbox/<module's last part>/``) and a path the backend calls under ``base_url``,
    #: which system check ``multipay.E010`` resolves where ``base_url`` is on this site.
    emulator: ClassVar[tuple[str, str] | None] = None
    #: Where the gateway notifies only a webhook registered with it beforehand (no notify
    #: URL per payment): the management command that registers one for ``{alias}``, which
    #: the admin names when such an alias has received nothing.
    webhook_command: ClassVar[str] = ""
    #: A sandbox-only backend (the dummy gateway): it starts no payment outside DEBUG unless
    #: ``ALLOW_TEST_GATEWAYS`` (:meth:`ensure_allowed`), and system check E005 says so.
    test_only: ClassVar[bool] = False
    #: What the shop's code (``payments.begin_payment(options=...)``) or its staff (the pay
    #: endpoint's ``options``) may choose for one payment; nothing else is accepted.
    payment_options: ClassVar[Mapping[str, PaymentOption]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        declared = cls.__dict__.get("declared_options")
        if declared is not None:
            derived = ("required_options", "secret_options", "config_options")
            if any(name in cls.__dict__ for name in derived):
                raise TypeError(f"{cls.__name__}: {derived} derive from declared_options")
            cls.required_options = tuple(o.name for o in declared if o.required)
            cls.secret_options = tuple(o.name for o in declared if o.secret)
            cls.config_options = tuple(o.name for o in declared)
        # Each contract method a backend defines labels the gateway calls made inside it,
        # for the latency histogram (django_multipay.metrics).
        for name in CONTRACT_OPERATIONS:
            method = cls.__dict__.get(name)
            if callable(method) and not hasattr(method, "__multipay_operation__"):
                setattr(cls, name, metrics.labelled(name, method))

    #: How long a hold (an ``authorized`` payment) lasts at the gateway unless captured,
    #: where the gateway does not say (``StatusResult.hold_expires_at``). Each backend states
    #: its own and its basis; the ``hold_lifetime`` option (seconds) overrides it per alias.
    default_hold_lifetime: ClassVar[timedelta] = timedelta(days=7)
    #: The names of :attr:`declared_options` (derived), including the per-payment options an
    #: alias sets defaults for; a backend that declares none may list names here instead.
    config_options: ClassVar[tuple[str, ...] | None] = None
    #: Option names that changed, old to new: an alias setting the old one gets a
    #: ``DeprecationWarning`` and its value under the new name.
    renamed_options: ClassVar[Mapping[str, str]] = {}
    #: The answers a :meth:`call` accepts unless it names its own (``None``: any 2xx).
    expected_statuses: ClassVar[tuple[int, ...] | None] = None
    #: How :meth:`unreadable` words an answer we cannot read.
    unreadable_message: ClassVar[str] = "Unreadable {what} from {gateway}: {why}"

    @classmethod
    def known_options(cls) -> frozenset[str] | None:
        """Every option name an alias of this backend may set in ``OPTIONS``, or ``None``
        when the backend does not declare :attr:`config_options`."""
        if cls.config_options is None:
            return None
        names = (*cls.required_options, *cls.secret_options, *cls.config_options)
        return frozenset((*COMMON_OPTIONS, *names, *cls.renamed_options))

    def __init__(self, alias: str, options: Mapping[str, Any] | None = None) -> None:
        self.alias = alias
        self.options: dict[str, Any] = dict(options or {})
        for old, new in self.renamed_options.items():
            if old in self.options:
                warnings.warn(
                    f"Gateway alias {alias!r}: option {old!r} is now called {new!r}; the old "
                    "name will stop working in a future release.",
                    DeprecationWarning,
                    stacklevel=2,
                )
                value = self.options.pop(old)
                self.options.setdefault(new, value)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} alias={self.alias!r}>"

    # -- configuration -----------------------------------------------------------------------

    def option(self, name: str, default: Any = None) -> Any:
        value = self.options.get(name, default)
        return default if value is None else value

    @property
    def sandbox(self) -> bool:
        return bool(self.options.get("sandbox", False))

    @property
    def base_url(self) -> str:
        override = self.options.get("base_url")
        if override:
            return str(override)
        return self.sandbox_base_url if self.sandbox else self.live_base_url

    def ensure_allowed(self) -> None:
        """Raise ``GatewayConfigurationError`` if this is a test-only backend and test-only
        parts may not run now (``DEBUG`` off, no ``ALLOW_TEST_GATEWAYS``). Checked on every
        payment, because servers such as gunicorn run no system checks."""
        if self.test_only and not allows_test_gateways():
            raise GatewayConfigurationError(
                _(
                    "Gateway %(alias)s uses the test-only %(gateway)s backend, which takes no"
                    " payment with DEBUG=False. Remove it from production settings (a test"
                    " settings module sets MULTIPAY['ALLOW_TEST_GATEWAYS'] = True)."
                )
                % {"alias": repr(self.alias), "gateway": self.display_name}
            )

    def missing_options(self) -> list[str]:
        """Required options that are absent or empty, and those the backend's rules need."""
        return [p.option for p in self.option_problems() if p.kind == "missing"]

    def option_problems(self) -> list[OptionProblem]:
        """Everything wrong with the alias's ``OPTIONS``: required options missing, values of
        a declared type they do not have (per-payment defaults are ``multipay.E013``'s), then
        the backend's own rules (:meth:`clean_options`) for options of the right type. What
        system checks E004, E019 and E020 report, and :meth:`check_options` refuses."""
        problems = [
            self.missing_problem(n) for n in self.required_options if not self.options.get(n)
        ]
        for declared in (*COMMON_DECLARED, *(self.declared_options or ())):
            wrong = declared.type_problem(self.options.get(declared.name))
            if wrong and declared.name not in self.payment_options:
                params = {"alias": repr(self.alias), "option": declared.name, "problem": wrong}
                params["type"] = type(self.options[declared.name]).__name__
                # Translators: %(problem)s is "must be a string" (or a number...); %(type)s a
                # Python type name (str, int); %(option)s an option name, kept as written.
                message = _("Gateway %(alias)s: %(option)s %(problem)s, not %(type)s.") % params
                problems.append(OptionProblem("type", declared.name, message))
        typed = {p.option for p in problems if p.kind == "type"}
        return problems + [p for p in self.clean_options() if p.option not in typed]

    def clean_options(self) -> list[OptionProblem]:
        """The backend's own rules for its options: which values it takes, which go together.
        Each rule lives once, most often in the option's reader (:meth:`reader_problems`)."""
        return self.reader_problems(hold_lifetime=lambda: self.hold_lifetime)

    def reader_problems(self, **readers: Callable[[], object]) -> list[OptionProblem]:
        """A ``rule`` problem for each option whose reader raises ``GatewayConfigurationError``
        (the error it raises at run time)."""
        problems = []
        for name, read in readers.items():
            try:
                read()
            except GatewayConfigurationError as exc:
                problems.append(OptionProblem("rule", name, str(exc)))
        return problems

    def missing_problem(self, name: str) -> OptionProblem:
        message = _("Gateway %(alias)s is missing %(options)s.")
        return OptionProblem(
            "missing", name, message % {"alias": repr(self.alias), "options": name}
        )

    def check_options(self) -> None:
        """Refuse a configuration with :meth:`option_problems` (``GatewayConfigurationError``,
        never swallowed), where a backend checks before it calls its gateway."""
        problems = self.option_problems()
        if problems:
            raise GatewayConfigurationError(" ".join(p.message for p in problems))

    @cached_property
    def redactor(self) -> Redactor:
        return Redactor(str(self.options.get(name) or "") for name in self.secret_options)

    def redact(self, data: Any) -> Any:
        return self.redactor.data(data)

    @cached_property
    def http(self) -> HttpClient:
        timeout = self.options.get("timeout") or multipay_settings.HTTP_TIMEOUT
        if isinstance(timeout, (int, float)):
            timeout = (timeout, timeout)
        return HttpClient(
            gateway=self.alias,
            base_url=self.base_url,
            timeout=tuple(timeout),
            retries=int(self.options.get("retries", multipay_settings.HTTP_RETRIES)),
            backoff=float(multipay_settings.HTTP_BACKOFF),
            user_agent=multipay_settings.USER_AGENT,
            secrets=[str(self.options.get(n) or "") for n in self.secret_options],
            **self.http_options(),
        )

    def http_options(self) -> dict[str, Any]:
        """More settings of this alias's :class:`HttpClient` (Paylands: its 429 repeats)."""
        return {}

    # -- the wire: one template for every call, as anymail's AnymailRequestsBackend ----------

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        expected: Iterable[int] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        **options: Any,
    ) -> Any:
        """One API call through the shared client (timeouts, safe retries, redaction), in the
        three steps each backend adapts with hooks: the request (:meth:`request_headers`,
        :meth:`request_kwargs`), an error answer made the project's exception
        (:meth:`error_for`), and a good answer read (:meth:`parse_answer`). ``options`` are
        the backend's own choices for the call, handed to its hooks in :class:`ApiCall`."""
        call = ApiCall(method.upper(), path, options)
        kwargs = self.request_kwargs(body, call)
        if params:
            kwargs["params"] = dict(params)
        try:
            response = self.http.request(
                call.method,
                path,
                expected=expected if expected is not None else self.expected_statuses,
                headers={**self.request_headers(call), **(headers or {})},
                **kwargs,
            )
        except GatewayAPIError as error:
            raise self.error_for(error, call) from None
        return self.parse_answer(response, call)

    def request_headers(self, call: ApiCall) -> dict[str, str]:
        """The headers of one call: the backend's authentication, what it accepts."""
        return {"Accept": "application/json"}

    def request_kwargs(self, body: Any, call: ApiCall) -> dict[str, Any]:
        """How ``body`` travels (JSON by default), and any other ``requests`` argument."""
        return {} if body is None else {"json": body}

    def error_for(self, error: GatewayAPIError, call: ApiCall) -> Exception:
        """The project's exception for an error answer (``error.http_status``, and the
        redacted answer in ``error.response``): by default the shared client's own. A backend
        also calls it for an error the gateway answers with a 2xx (:meth:`parse_answer`)."""
        return error

    def parse_answer(self, response: requests.Response, call: ApiCall) -> Any:
        """What a good answer says: its JSON by default (not JSON: ``GatewayAPIError``)."""
        return self.http.decode(response, call.method, call.path)

    def unreadable(self, what: str, data: Any, why: Exception | str) -> GatewayAPIError:
        """The error for an answer we cannot read: what it was, why, and the answer redacted.
        No HTTP status: whether a write was made is then unknown, not refused."""
        reason = f"{type(why).__name__}: {why}" if isinstance(why, Exception) else why
        message = self.unreadable_message.format(what=what, gateway=self.display_name, why=reason)
        return self.answer_error(message, data)

    def answer_error(self, message: str, data: Any, **kwargs: Any) -> GatewayAPIError:
        """The error about an answer we will not act on (it lacks what the call needs, or
        says what cannot be): its message and the answer it carries are redacted."""
        return GatewayAPIError(
            self.redactor.text(message), gateway=self.alias, response=self.redact(data), **kwargs
        )

    @contextmanager
    def reading(self, what: str, data: Any) -> Iterator[None]:
        """Read ``data`` within the block; whatever :data:`UNREADABLE` it raises becomes
        :meth:`unreadable`, with no chained exception carrying the answer along."""
        try:
            yield
        except UNREADABLE as exc:
            raise self.unreadable(what, data, exc) from None

    # -- per-payment options -----------------------------------------------------------------

    @property
    def allowed_sensitive_options(self) -> frozenset[str]:
        """Sensitive options the alias opted into (``allow_sensitive_payment_options``)."""
        listed = self.options.get("allow_sensitive_payment_options") or ()
        if isinstance(listed, str):
            return frozenset()
        return frozenset(str(name) for name in listed)

    def sensitive_option_errors(self) -> list[str]:
        """What is wrong with ``allow_sensitive_payment_options`` (system check E006)."""
        listed = self.options.get("allow_sensitive_payment_options")
        if listed is None:
            return []
        if isinstance(listed, str) or not isinstance(listed, (list, tuple, set, frozenset)):
            return [_("allow_sensitive_payment_options must be a list of option names")]
        sensitive = {n for n, o in self.payment_options.items() if o.sensitive}
        wrong = sorted(str(n) for n in listed if n not in sensitive)
        if not wrong:
            return []
        params = {
            "names": ", ".join(wrong),
            "gateway": self.display_name,
            "declared": ", ".join(sorted(sensitive)),
        }
        if sensitive:
            problem = _(
                "allow_sensitive_payment_options names %(names)s, which %(gateway)s does not"
                " declare sensitive (it declares: %(declared)s)"
            )
        else:
            problem = _(
                "allow_sensitive_payment_options names %(names)s, which %(gateway)s does not"
                " declare sensitive (it declares: none)"
            )
        return [problem % params]

    def default_option_errors(self) -> dict[str, str]:
        """What is wrong with the per-payment defaults the alias sets in ``OPTIONS`` (those of
        :attr:`payment_options` the backend also reads from its configuration), checked by
        the same declarations as a payment's own, by ``OPTIONS.<name>``. The alias's
        configuration is its own choice: its sensitive defaults need no opt-in."""
        errors: dict[str, str] = {}
        for name in self.config_options or ():
            declared, value = self.payment_options.get(name), self.options.get(name)
            try:
                if declared is not None and value is not None:
                    declared.check(value)
            except ValueError as exc:
                errors[f"OPTIONS.{name}"] = str(exc)
        return errors

    def check_payment_options(
        self, options: Mapping[str, Any] | None, order: Order | None = None
    ) -> dict[str, Any]:
        """Check options given for one payment against :attr:`payment_options`: names, types,
        ranges, the alias's opt-in for sensitive ones, then the backend's own rules
        (:meth:`clean_payment_options`). Returns them as they are stored on the invoice;
        raises ``InvalidRequest`` with ``fields`` named ``options.<name>`` otherwise.

        The alias's own defaults for the same options are checked first
        (:meth:`default_option_errors`): a default the gateway cannot read is the operator's
        mistake, a ``GatewayConfigurationError`` raised before any invoice exists."""
        defaults = self.default_option_errors()
        if defaults:
            raise GatewayConfigurationError(
                _(
                    "Gateway %(alias)s has per-payment defaults %(gateway)s cannot read:"
                    " %(problems)s"
                )
                % {
                    "alias": repr(self.alias),
                    "gateway": self.display_name,
                    "problems": "; ".join(f"{k} {v}" for k, v in sorted(defaults.items())),
                }
            )
        if options is None:
            return {}
        if not isinstance(options, Mapping):
            raise InvalidRequest(
                _("Gateway options must be an object."),
                fields={"options": _("must be an object")},
                gateway=self.alias,
            )
        if self.payment_options:
            unknown = _("unknown option; %(gateway)s takes: %(options)s")
        else:
            unknown = _("unknown option; %(gateway)s takes: none")
        cleaned, errors = self.checked_options(
            options,
            self.payment_options,
            unknown=unknown
            % {"gateway": self.display_name, "options": ", ".join(sorted(self.payment_options))},
            prefix="options.",
        )
        if not errors:
            errors = self.clean_payment_options(cleaned, order)
        if errors:
            raise InvalidRequest(
                _("Invalid gateway options: %(problems)s")
                % {"problems": "; ".join(f"{k}: {v}" for k, v in sorted(errors.items()))},
                fields=errors,
                gateway=self.alias,
            )
        return cleaned

    def checked_options(
        self,
        given: Mapping[Any, Any],
        declared: Mapping[str, PaymentOption],
        *,
        unknown: str,
        prefix: str = "",
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """``given`` taken through ``declared`` as per-payment options are, a sensitive one
        only with the alias's opt-in: the values that pass, and what is wrong with each of
        the others by ``prefix`` and its name (an undeclared one is told ``unknown``)."""
        cleaned: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, value in given.items():
            option = declared.get(name) if isinstance(name, str) else None
            try:
                if option is None:
                    raise ValueError(unknown)
                value = option.check(value)
                if option.is_sensitive(value) and name not in self.allowed_sensitive_options:
                    raise ValueError(
                        _(
                            "weakens security or acts on stored credentials: refused unless"
                            " this alias lists it in allow_sensitive_payment_options"
                        )
                    )
            except ValueError as exc:
                errors[f"{prefix}{name}"] = str(exc)
                continue
            cleaned[name] = value
        return cleaned, errors

    def clean_payment_options(self, options: dict[str, Any], order: Order | None) -> dict[str, str]:
        """The backend's rules across options and its configuration (which APMs are on, whose
        card it is); may adjust ``options`` in place. Returns errors by ``options.<name>``."""
        return {}

    def customer_id(self, order: Order) -> str | None:
        """The gateway-side customer id the shop binds, server-side, to the order's user: the
        alias's ``customer_id`` option, else ``MULTIPAY["CUSTOMER_ID"]`` (a callable, or its
        dotted path, given the user), else :meth:`default_customer_id`. ``None`` for an order
        without a user (a guest), or when the callable returns nothing."""
        user = order.user if order.user_id else None
        if user is None:
            return None
        binder = self.options.get("customer_id") or multipay_settings.CUSTOMER_ID
        if binder is None:
            return self.default_customer_id(user)
        value = load_callable(binder, "customer_id")(user)
        return str(value) if value not in (None, "") else None

    def default_customer_id(self, user: Any) -> str:
        """The customer id of a user when the shop binds none."""
        return str(user.pk)

    # -- capabilities ------------------------------------------------------------------------

    def supports(self, operation: str) -> bool:
        if operation not in OPERATIONS:
            raise ValueError(f"Unknown operation {operation!r}")
        return bool(getattr(self.capabilities, operation))

    def require(self, operation: str) -> None:
        """Raise ``UnsupportedOperation`` unless the backend declares ``operation``."""
        if not self.supports(operation):
            raise UnsupportedOperation(
                _(UNSUPPORTED[operation]) % {"gateway": self.display_name},
                gateway=self.alias,
            )

    def accepts_currency(self, currency: str) -> bool:
        allowed = self.capabilities.currencies
        return allowed is None or currency.upper() in allowed

    # -- holds -------------------------------------------------------------------------------

    @property
    def hold_lifetime(self) -> timedelta:
        """How long this alias's holds last unless captured: the ``hold_lifetime`` option in
        seconds (or a ``timedelta``), else :attr:`default_hold_lifetime`. Reconciliation asks
        the gateway about a hold once it is this old; it never ends one on its own."""
        value = self.options.get("hold_lifetime")
        if value is None or value == "":
            return self.default_hold_lifetime
        if isinstance(value, timedelta):
            lifetime = value
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            lifetime = timedelta(seconds=value)
        else:
            lifetime = timedelta(0)
        if lifetime <= timedelta(0):
            raise GatewayConfigurationError(
                _("Gateway %(alias)s: hold_lifetime must be a positive number of seconds.")
                % {"alias": repr(self.alias)}
            )
        return lifetime

    @property
    def auto_capture(self) -> bool:
        """Whether this alias captures its holds itself, with no one asking (Postpay captures
        an approved order on the customer's return and on its webhook): reconciliation then
        captures a hold that callbacks left uncaptured (:meth:`reconcile_status`)."""
        return False

    # -- the contract ------------------------------------------------------------------------

    def start_payment(self, invoice: Invoice, urls: PaymentUrls) -> PaymentStart:
        """Create the payment at the gateway; say where to send the customer."""
        raise NotImplementedError

    def parse_notification(self, request: InboundRequest) -> NotificationEvent:
        """Authenticate and parse a notification; raise ``NotificationRejected`` if bad."""
        raise NotImplementedError

    def fetch_status(self, invoice: Invoice) -> StatusResult:
        """Read the invoice's true status server-to-server."""
        raise NotImplementedError

    def fetch_statuses(self, invoices: Sequence[Invoice]) -> Mapping[Any, StatusResult] | None:
        """The true statuses of many invoices of this alias from the gateway's own listing, in
        a few calls instead of one or more per invoice, keyed by invoice ``pk``. An invoice the
        listing does not name is left out (reconciliation then reads it alone with
        :meth:`fetch_status`). ``None`` (the default): the gateway has no such listing."""
        return None

    def verify_notification(self, invoice: Invoice, event: NotificationEvent) -> StatusResult:
        """The true status behind a (non-authoritative) notification. By default
        :meth:`fetch_status`; a gateway with a dedicated validation call (PortPos IPN
        validate) uses it. Raise ``NotificationRejected`` if the gateway disowns the event."""
        return self.fetch_status(invoice)

    def verify_return(self, invoice: Invoice, request: InboundRequest) -> StatusResult:
        """The status to act on when the customer comes back. The query string is not trusted:
        by default this is :meth:`fetch_status`."""
        return self.fetch_status(invoice)

    def reconcile_status(self, invoice: Invoice) -> StatusResult:
        """The status reconciliation applies. By default :meth:`fetch_status`; a backend whose
        alias captures automatically (:attr:`auto_capture`) captures a hold here as its return
        does, so a capture that never happened is made (the core sends it once)."""
        return self.fetch_status(invoice)

    def settlement(self, invoice: Invoice) -> list[SettlementLine]:
        """The gateway's settlement lines for the invoice (payment, refunds, fees); backends
        that declare ``settlement`` implement it. It calls the gateway."""
        raise NotImplementedError

    def payment_instructions(self, invoice: Invoice) -> dict[str, str] | None:
        """What the customer needs to pay another way (a Payshop or Multibanco reference, its
        entity and deadline), from what the invoice keeps, with no gateway call; ``None``
        when the payment has no such step. Shown through the REST API and the admin."""
        return None

    def capture(self, invoice: Invoice, amount: Decimal) -> StatusResult:
        raise NotImplementedError

    def cancel(self, invoice: Invoice) -> StatusResult:
        raise NotImplementedError

    def refund(self, refund: Refund) -> RefundResult:
        raise NotImplementedError

    def list_refunds(self, invoice: Invoice) -> list[RefundResult]:
        """The refund lines the gateway holds for the invoice, as it gives them: its refund id,
        and ``RefundResult.idempotency_key`` only where the gateway echoes our key. Never
        assign our refunds to lines here: the core does
        (:mod:`~django_multipay.refund_matching`)."""
        raise NotImplementedError

    def refund_report(self, invoice: Invoice) -> RefundReport:
        """What the gateway says of the invoice's refunds. By default its refund list, read in
        full (:meth:`list_refunds`); a gateway that lists no refunds reports its refunded
        total or refund state instead."""
        return RefundReport(lines=tuple(self.list_refunds(invoice)), complete=True)

    # -- answers to notifications ------------------------------------------------------------

    def notification_response(self, outcome: Outcome) -> HttpResponse:
        """What the gateway expects back for a notification we accepted (processed or not)."""
        return HttpResponse("OK", content_type="text/plain")

    def rejection_response(self, reason: str, status: int = 400) -> HttpResponse:
        """What to answer a notification we refused."""
        return HttpResponse(reason, status=status, content_type="text/plain")


# The defaults too: a backend that keeps the default verify_return labels its status read
# "verify_return", as one that writes its own does.
for _name in CONTRACT_OPERATIONS:
    setattr(BaseGateway, _name, metrics.labelled(_name, BaseGateway.__dict__[_name]))
del _name
