"""Page-number pagination for every list the API answers."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request


class MultipayPagination(PageNumberPagination):
    """``?page=2&page_size=50``; 20 a page by default, at most 100."""

    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int | None:
        given = request.query_params.get(self.page_size_query_param or "page_size")
        if given is not None and not (given.isascii() and given.isdigit() and int(given) > 0):
            raise ValidationError(
                {"page_size": [_("A whole number from 1 (more than 100 counts as 100).")]}
            )
        return super().get_page_size(request)

    def get_page_number(self, request: Request, paginator: Any) -> Any:
        if request.query_params.get(self.page_query_param) == "":
            raise NotFound("Invalid page.")
        return super().get_page_number(request, paginator)
