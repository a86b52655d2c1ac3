"""Django system checks for the ``MULTIPAY`` setting, one ID per mistake."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import SplitResult, urlsplit

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from django_multipay.conf import DEFAULTS, allows_test_gateways, multipay_settings
from django_multipay.exceptions import GatewayConfigurationError
from django_multipay.gateways.base import BaseGateway, load_callable
from django_multipay.registry import backend_class

# In the shop's LANGUAGE_CODE, as ``manage.py check`` prints them; the IDs stay the same.
DOCS = gettext_noop("See the settings reference in the django-multipay documentation.")
CUSTOMER_ID_HINT = gettext_noop(
    "Give a callable taking the user and returning its customer id, or its path."
)

#: The keys of one alias in ``MULTIPAY["GATEWAYS"]``.
ALIAS_KEYS = ("BACKEND", "OPTIONS", "LABEL")
#: What the return view replaces in ``SUCCESS_URL`` / ``FAILURE_URL`` (views._destination).
URL_PLACEHOLDERS = ("reference", "order")
#: Optional dependencies a built-in backend imports: module → (package, the extra with it).
EXTRAS = {"jwt": ("PyJWT", "portone")}
#: Host names that reach this very site (the Django test client's, and loopback) when
#: ``MULTIPAY["BASE_URL"]`` does not say where it is.
LOCAL_HOSTS = frozenset({"testserver", "localhost", "127.0.0.1", "::1"})


def _did_you_mean(
    name: str, known: Iterable[str], *, fold: Callable[[str], str] = str.upper
) -> str:
    """``"Did you mean 'X'? "`` for the nearest known name, or nothing."""
    folded = {fold(k): k for k in known}
    close = difflib.get_close_matches(fold(name), list(folded), n=1)
    return _("Did you mean %(name)s? ") % {"name": repr(folded[close[0]])} if close else ""


def _after_guess(guess: str, hint: str) -> str:
    """A hint after its "Did you mean ...?" guess, if there is one."""
    return f"{guess}{hint}"


@register(Tags.security, "multipay")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate ``MULTIPAY`` and every gateway alias in it."""
    raw = multipay_settings.raw
    if not isinstance(raw, dict):
        return [Error(_("MULTIPAY must be a dict."), hint=_(DOCS), id="multipay.E001")]
    gateways = raw.get("GATEWAYS", {})
    if not isinstance(gateways, dict):
        return [
            Error(
                _("MULTIPAY['GATEWAYS'] must be a dict of aliases."),
                hint=_(DOCS),
                id="multipay.E014",
            )
        ]
    messages: list[CheckMessage] = []
    messages.extend(_unknown_keys(raw))
    messages.extend(_url_placeholders(raw))
    for alias, config in gateways.items():
        messages.extend(_check_alias(alias, config))
    default = multipay_settings.DEFAULT_GATEWAY
    if default is not None and default not in gateways:
        messages.append(
            Error(
                _("MULTIPAY['DEFAULT_GATEWAY'] is %(default)s, which is not a configured alias.")
                % {"default": repr(default)},
                hint=_("Use one of: %(aliases)s.")
                % {"aliases": ", ".join(gateways) or _("(none configured)")},
                id="multipay.E003",
            )
        )
    customer_id = multipay_settings.CUSTOMER_ID
    if customer_id is not None:
        try:
            load_callable(customer_id, "MULTIPAY['CUSTOMER_ID']")
        except GatewayConfigurationError as exc:
            messages.append(Error(str(exc), hint=_(CUSTOMER_ID_HINT), id="multipay.E007"))
    return messages


@register(Tags.security, "multipay", deploy=True)
def check_deploy(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """``check --deploy`` only: the test-only parts switched on with DEBUG off (what a test
    settings module does, and a production one must not)."""
    if not settings.DEBUG and multipay_settings.ALLOW_TEST_GATEWAYS is True:
        return [
            Warning(
                _(
                    "MULTIPAY['ALLOW_TEST_GATEWAYS'] is True with DEBUG=False: the dummy gateway"
                    " takes payments and the sandbox emulators answer."
                ),
                hint=_("Set it only in test settings; remove it from production settings."),
                id="multipay.W002",
            )
        ]
    return []


def _check_alias(alias: Any, config: Any) -> list[CheckMessage]:
    if not isinstance(alias, str) or not alias.replace("-", "").replace("_", "").isalnum():
        return [
            Error(
                _("Gateway alias %(alias)s must be letters, digits, '-' or '_'.")
                % {"alias": repr(alias)},
                id="multipay.E015",
            )
        ]
    # One message for E016 and E017, the one E001 gave both before they were told apart.
    shape = _("MULTIPAY['GATEWAYS'][%(alias)s] must be a dict with a 'BACKEND' dotted path.") % {
        "alias": repr(alias)
    }
    if not isinstance(config, dict):
        return [Error(shape, hint=_(DOCS), id="multipay.E016")]
    if not isinstance(config.get("BACKEND"), str):
        return [Error(shape, hint=_(DOCS), id="multipay.E017")]
    options = config.get("OPTIONS", {})
    if not isinstance(options, dict):
        return [
            Error(
                _("OPTIONS of gateway %(alias)s must be a dict.") % {"alias": repr(alias)},
                id="multipay.E018",
            )
        ]
    messages: list[CheckMessage] = []
    for key in config:
        if key not in ALIAS_KEYS:
            messages.append(
                Warning(
                    _("MULTIPAY['GATEWAYS'][%(alias)s] has an unknown key %(key)s: it is ignored.")
                    % {"alias": repr(alias), "key": repr(key)},
                    hint=_after_guess(
                        _did_you_mean(str(key), ALIAS_KEYS),
                        _("An alias takes only %(keys)s; the backend's own options go in OPTIONS.")
                        % {"keys": ", ".join(ALIAS_KEYS)},
                    ),
                    id="multipay.W004",
                )
            )
    try:
        cls = backend_class(config["BACKEND"])
    except GatewayConfigurationError as exc:
        needs = _missing_extra(exc)
        if needs is not None:
            package, extra = needs
            return [
                *messages,
                Error(
                    _("Gateway %(alias)s: %(backend)s needs %(package)s, which is not installed.")
                    % {"alias": repr(alias), "backend": config["BACKEND"], "package": package},
                    hint=_('Install the "%(extra)s" extra: %(command)s.')
                    % {"extra": extra, "command": f'pip install "django-multipay[{extra}]"'},
                    id="multipay.E012",
                ),
            ]
        return [
            *messages,
            Error(str(exc), hint=_("Check the BACKEND dotted path."), id="multipay.E002"),
        ]
    messages.extend(_unknown_options(alias, cls, options))
    gateway = cls(alias, options)
    missing = gateway.missing_options()
    if missing:
        messages.append(
            Error(
                _("Gateway %(alias)s is missing %(options)s.")
                % {"alias": repr(alias), "options": ", ".join(missing)},
                hint=_("Set them in OPTIONS, from the environment; never commit credentials."),
                id="multipay.E004",
            )
        )
    # The rest of what BaseGateway.option_problems finds (the missing ones are E004's): a
    # value of another type than the backend declares, and the backend's own rules.
    for found in gateway.option_problems():
        if found.kind == "type":
            hint = _("Give it a value of the type its gateway's page lists, or remove it.")
            messages.append(Error(found.message, hint=hint, id="multipay.E019"))
        elif found.kind == "rule":
            hint = _("Its gateway's page lists the values it takes and which go together.")
            messages.append(Error(found.message, hint=hint, id="multipay.E020"))
    # The same check every payment at the alias runs first (check_payment_options): a default
    # the gateway cannot read would refuse each of them.
    for field, problem in gateway.default_option_errors().items():
        messages.append(
            Error(
                _("Gateway %(alias)s: %(field)s cannot be sent to %(gateway)s: %(problem)s.")
                % {
                    "alias": repr(alias),
                    "field": field,
                    "gateway": cls.display_name,
                    "problem": problem,
                },
                hint=_(
                    "Every payment at this alias is refused until it is corrected; the"
                    " gateway's page lists each option's type and range."
                ),
                id="multipay.E013",
            )
        )
    for problem in gateway.sensitive_option_errors():
        messages.append(
            Error(
                _("Gateway %(alias)s: %(problem)s.") % {"alias": repr(alias), "problem": problem},
                hint=_("List only the sensitive per-payment options its page names."),
                id="multipay.E006",
            )
        )
    if options.get("customer_id") is not None:
        try:
            load_callable(
                options["customer_id"],
                _("customer_id of gateway %(alias)s") % {"alias": repr(alias)},
            )
        except GatewayConfigurationError as exc:
            messages.append(Error(str(exc), hint=_(CUSTOMER_ID_HINT), id="multipay.E007"))
    if cls.test_only:
        # The same rule as at run time (BaseGateway.ensure_allowed), so what the check lets
        # through is what runs. Its sandbox mode is what it is for: no W001.
        if not allows_test_gateways():
            messages.append(
                Error(
                    _(
                        "Gateway %(alias)s uses the test-only %(gateway)s backend with"
                        " DEBUG=False: it refuses every payment."
                    )
                    % {"alias": repr(alias), "gateway": cls.display_name},
                    hint=_(
                        "Anyone could mark orders paid. Remove it from production settings"
                        " (test settings opt in with MULTIPAY['ALLOW_TEST_GATEWAYS'] = True)."
                    ),
                    id="multipay.E005",
                )
            )
    elif options.get("sandbox") and not settings.DEBUG:
        messages.append(
            Warning(
                _("Gateway %(alias)s is in sandbox mode with DEBUG=False.")
                % {"alias": repr(alias)},
                hint=_("Set 'sandbox': False for live payments."),
                id="multipay.W001",
            )
        )
    return messages


def _unknown_keys(raw: dict[Any, Any]) -> list[CheckMessage]:
    """multipay.W003: a key of ``MULTIPAY`` that nothing reads, most often a misspelling."""
    return [
        Warning(
            _("MULTIPAY has an unknown key %(key)s: it is ignored.") % {"key": repr(key)},
            hint=_after_guess(_did_you_mean(str(key), DEFAULTS), _(DOCS)),
            id="multipay.W003",
        )
        for key in raw
        if key not in DEFAULTS
    ]


def _url_placeholders(raw: dict[Any, Any]) -> list[CheckMessage]:
    """multipay.E008: braces left in ``SUCCESS_URL`` / ``FAILURE_URL`` once the known
    placeholders are taken out would reach the customer as literal text."""
    messages: list[CheckMessage] = []
    known = ", ".join("{" + name + "}" for name in URL_PLACEHOLDERS)
    for key in ("SUCCESS_URL", "FAILURE_URL", "ORDER_URL"):
        value = raw.get(key)
        if value is None:
            continue
        rest = str(value)
        for name in URL_PLACEHOLDERS:
            rest = rest.replace("{" + name + "}", "")
        unknown = re.findall(r"\{[^{}]*\}|[{}]", rest)
        if not unknown:
            continue
        guesses = [
            _did_you_mean(found.strip("{}"), URL_PLACEHOLDERS, fold=str.lower)
            for found in unknown
            if found.strip("{}")
        ]
        messages.append(
            Error(
                _(
                    "MULTIPAY[%(key)s] is %(value)s, with %(found)s, which is not a"
                    " placeholder: the customer would be sent to it as it is."
                )
                % {"key": repr(key), "value": repr(str(value)), "found": ", ".join(unknown)},
                hint=_after_guess(
                    "".join(dict.fromkeys(guesses)),
                    _("The placeholders are %(known)s (the order's reference and its public id).")
                    % {"known": known},
                ),
                id="multipay.E008",
            )
        )
    return messages


def _missing_extra(exc: BaseException) -> tuple[str, str] | None:
    """The package and extra a backend failed to import for, if that is why it failed."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ImportError) and cause.name:
            found = EXTRAS.get(cause.name.partition(".")[0])
            if found is not None:
                return found
        cause = cause.__cause__ or cause.__context__
    return None


def _unknown_options(
    alias: str, cls: type[BaseGateway], options: dict[Any, Any]
) -> list[CheckMessage]:
    """multipay.W005: an option the backend does not read (``api_kye``), where it declares
    what it reads (:meth:`BaseGateway.known_options`)."""
    known = cls.known_options()
    if known is None:
        return []
    return [
        Warning(
            _("Gateway %(alias)s has an unknown option %(name)s: %(gateway)s ignores it.")
            % {"alias": repr(alias), "name": repr(name), "gateway": cls.display_name},
            hint=_after_guess(
                _did_you_mean(str(name), known, fold=str.lower),
                _(
                    "Its page in the gateway documentation lists its options (a backend"
                    " subclass that reads more adds them to config_options)."
                ),
            ),
            id="multipay.W005",
        )
        for name in options
        if name not in known
    ]


@register(Tags.security, "multipay")
def check_sandbox_app(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """multipay.E009: the emulators installed where test-only parts may not run. The rule is
    the one the emulators and the dummy gateway apply on every request (E005)."""
    if not apps.is_installed("django_multipay.sandbox") or allows_test_gateways():
        return []
    return [
        Error(
            _(
                "The gateway emulators (django_multipay.sandbox) are in INSTALLED_APPS with"
                " DEBUG=False."
            ),
            hint=_(
                "Add the app only in development and test settings. A test settings module"
                " (test runners force DEBUG=False) sets MULTIPAY['ALLOW_TEST_GATEWAYS'] = True."
            ),
            id="multipay.E009",
        )
    ]


def _served_here(url: str) -> bool:
    """Whether ``url`` is on this site: the host (and port) of ``MULTIPAY["BASE_URL"]``, the
    test client's ``testserver``, or, with no BASE_URL, a loopback address."""
    parts = urlsplit(url)
    if parts.hostname == "testserver":
        return True
    site = multipay_settings.BASE_URL
    if site:
        return _host_and_port(parts) == _host_and_port(urlsplit(str(site)))
    return parts.hostname in LOCAL_HOSTS


def _host_and_port(parts: SplitResult) -> tuple[str | None, int | None]:
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.hostname, parts.port or default


def _without_credentials(url: str) -> str:
    """``url`` as a message may show it: no ``user:password@``."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


@register(Tags.urls, "multipay")
def check_emulator_routes(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """multipay.E010: an alias whose ``base_url`` is on this site, where its backend's
    emulator is not routed (every call would come back 404, a 502 to the customer)."""
    urlconf = getattr(settings, "ROOT_URLCONF", None)
    gateways = multipay_settings.GATEWAYS  # {} when it is not a dict (E014)
    if not urlconf:
        return []
    messages: list[CheckMessage] = []
    for alias, config in gateways.items():
        if not isinstance(config, dict) or not isinstance(config.get("OPTIONS", {}), dict):
            continue  # E016 or E018, from check_settings
        try:
            cls = backend_class(str(config.get("BACKEND")))
        except GatewayConfigurationError:
            continue  # E002 or E012
        emulator = cls.emulator
        url = cls(str(alias), config.get("OPTIONS") or {}).base_url
        if emulator is None or not _served_here(url):
            continue
        module, call = emulator
        path = urlsplit(url).path or "/"
        script = getattr(settings, "FORCE_SCRIPT_NAME", None)
        if script and path.startswith(script.rstrip("/") + "/"):
            path = path[len(script.rstrip("/")) :]
        probe = path.rstrip("/") + "/" + call
        try:
            routed = getattr(resolve(probe, urlconf).func, "__module__", None) == module
        except Resolver404:
            routed = False
        if not routed:
            messages.append(
                Error(
                    _(
                        "Gateway %(alias)s calls %(url)s, on this site, but ROOT_URLCONF"
                        " (%(urlconf)s) does not route the %(gateway)s emulator there"
                        " (%(probe)s is not one of its URLs)."
                    )
                    % {
                        "alias": repr(alias),
                        "url": _without_credentials(url),
                        "urlconf": urlconf,
                        "gateway": cls.display_name,
                        "probe": probe,
                    },
                    hint=_(
                        "Include the emulators at that path, e.g. %(example)s for"
                        " .../sandbox/<gateway>/, or point base_url where they are routed."
                    )
                    % {"example": 'path("sandbox/", include("django_multipay.sandbox.urls"))'},
                    id="multipay.E010",
                )
            )
    return messages


@register("multipay")
def check_deferred_notifications(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """multipay.E011: ``DEFER_NOTIFICATIONS`` with no task framework to defer them to (every
    notification would be answered 503 and stored as failed)."""
    if not multipay_settings.DEFER_NOTIFICATIONS:
        return []
    try:
        import django_multipay.tasks  # noqa: F401 - what the notify view enqueues with
    except ImportError as exc:
        return [
            Error(
                _(
                    "MULTIPAY['DEFER_NOTIFICATIONS'] is on, but no task framework is installed"
                    " (%(error)s)."
                )
                % {"error": exc},
                hint=_(
                    "Django 6 has django.tasks; on Django 5.2 install the django-tasks"
                    " backport (%(command)s), or set DEFER_NOTIFICATIONS to False."
                )
                % {"command": 'pip install "django-multipay[tasks]"'},
                id="multipay.E011",
            )
        ]
    return []


#: Of a declared worker timeout, the share gateway calls may take: the rest is the request's
#: own work (database, rendering) and the server's margin.
WORKER_SHARE = 0.8


@register("multipay")
def check_time_budget(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The time one web request may wait on gateways does not fit in the worker timeout the
    shop declares (``WORKER_TIMEOUT``): the server would kill the worker mid-request.

    multipay.W010: ``REQUEST_TIME_BUDGET`` does not fit; W011: ``WORKER_TIMEOUT`` is not a
    number of seconds; W012: nor is ``REQUEST_TIME_BUDGET``; W013: with no budget, an alias's
    longest hung read does not fit."""
    from django_multipay.gateways.http import worst_case

    worker = multipay_settings.WORKER_TIMEOUT
    hint = _(
        "Keep REQUEST_TIME_BUDGET at most %(share)d%% of WORKER_TIMEOUT (the default, 15 s,"
        " fits gunicorn's 30 s); see 'Time budget' in the settings reference."
    ) % {"share": int(WORKER_SHARE * 100)}
    if worker is None:
        return []
    if isinstance(worker, bool) or not isinstance(worker, (int, float)) or worker <= 0:
        return [
            Warning(
                _(
                    "MULTIPAY['WORKER_TIMEOUT'] is %(value)s, not a number of seconds: the time"
                    " budget cannot be checked against it."
                )
                % {"value": repr(worker)},
                hint=hint,
                id="multipay.W011",
            )
        ]
    allowed = worker * WORKER_SHARE
    budget = multipay_settings.REQUEST_TIME_BUDGET
    if budget is not None:
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or budget <= 0:
            return [
                Warning(
                    _(
                        "MULTIPAY['REQUEST_TIME_BUDGET'] is %(value)s, not a number of seconds:"
                        " the default, %(default)s s, is used."
                    )
                    % {"value": repr(budget), "default": DEFAULTS["REQUEST_TIME_BUDGET"]},
                    hint=hint,
                    id="multipay.W012",
                )
            ]
        if budget <= allowed:
            return []
        return [
            Warning(
                _(
                    "MULTIPAY['REQUEST_TIME_BUDGET'] is %(budget)s s, which does not fit in the"
                    " declared worker timeout of %(worker)s s with room for the rest of the"
                    " request."
                )
                % {"budget": budget, "worker": worker},
                hint=hint,
                id="multipay.W010",
            )
        ]
    messages: list[CheckMessage] = []
    for alias, config in multipay_settings.GATEWAYS.items():
        options = config.get("OPTIONS") if isinstance(config, dict) else None
        options = options if isinstance(options, dict) else {}
        timeout = options.get("timeout") or multipay_settings.HTTP_TIMEOUT
        retries = options.get("retries", multipay_settings.HTTP_RETRIES)
        try:
            pair = (timeout, timeout) if isinstance(timeout, (int, float)) else tuple(timeout)
            longest = worst_case(
                None,
                (float(pair[0]), float(pair[1])),
                int(retries),
                float(multipay_settings.HTTP_BACKOFF),
            )
        except (TypeError, ValueError, IndexError):
            continue  # not a timeout at all: the client's own error says so
        if longest > allowed:
            messages.append(
                Warning(
                    _(
                        "With no REQUEST_TIME_BUDGET, one hung read of gateway %(alias)s can"
                        " wait %(longest).1f s, which does not fit in the declared worker"
                        " timeout of %(worker)s s."
                    )
                    % {"alias": repr(alias), "longest": longest, "worker": worker},
                    hint=hint,
                    id="multipay.W013",
                )
            )
    return messages
