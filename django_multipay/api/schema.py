"""OpenAPI 3 (drf-spectacular): the error responses each endpoint documents."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_choice_description_list, build_choice_field
from drf_spectacular.utils import OpenApiResponse

from django_multipay.api.serializers import ErrorSerializer

ERROR_DESCRIPTIONS = {
    400: "Invalid input: `fields` names each bad field.",
    401: "Not authenticated (token authentication).",
    402: "The gateway declined.",
    403: "Not authenticated (session authentication), or not allowed.",
    404: "No such object, or not yours.",
    409: "The object's state does not allow this (already paid, not authorized…).",
    415: "The body is not JSON.",
    429: "Too many requests: the rate the shop set for this endpoint's throttle scope"
    " (`multipay_pay`, `multipay_refund`) was reached; `Retry-After` says when to try again.",
    502: "The gateway refused or answered something unreadable; `code`/`message` are its own.",
    503: "The gateway alias is not configured.",
    504: "The gateway did not answer in time.",
}


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """Error responses for ``extend_schema(responses=...)``; 401 and 403 are always added."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status])
        for status in sorted({401, 403, *statuses})
    }


class StrictSerializerExtension(OpenApiSerializerExtension):  # type: ignore[no-untyped-call]
    """Request bodies that refuse unknown keys say so: ``additionalProperties: false``."""

    target_class = "django_multipay.api.serializers.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        schema["additionalProperties"] = False
        return schema


class EnumFieldExtension(OpenApiSerializerFieldExtension):  # type: ignore[no-untyped-call]
    """An :class:`~django_multipay.api.serializers.EnumField`'s enum as its own, prefixed
    component (``MultipayOrderStatusEnum``), referred to from each serializer that has it."""

    target_class = "django_multipay.api.serializers.EnumField"
    match_subclasses = True

    def get_name(self) -> str | None:
        return str(self.target.component_name)

    def map_serializer_field(self, auto_schema: Any, direction: Any) -> Any:
        schema = build_choice_field(self.target)
        schema.pop("x-spec-enum-id", None)
        schema["description"] = build_choice_description_list(self.target.choices.items())
        return schema
