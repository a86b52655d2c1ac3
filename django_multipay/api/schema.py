"""OpenAPI 3 (drf-spectacular): the error responses each endpoint documents."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
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
