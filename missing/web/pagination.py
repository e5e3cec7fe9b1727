"""One capped count for every list, on the web and in the API: its cost follows the page, not
the table.

Django's Paginator and DRF's LimitOffsetPagination count every row to show "Page 3 of N" or
`"count": N`. At national scale the episode list holds millions of rows, and that COUNT(*) is
the most expensive query of the page. Both lists here count through `capped_count`: at most
`cap + 1` rows (a LIMIT inside the count), so a page costs the same at ten thousand and at ten
million episodes. Past the cap the count reads "N+": the web page says "more than 10,000" and
the filters narrow it; the API answers `"count": 10000, "count_capped": true`.

The two differ only where paging does. The web's page numbers stop at the cap (page 201 of 50
is not offered). The API's `offset` is not capped: a client walking `next` to read a whole list
must reach its end, so the API counts at least one row past the page it serves, which its own
OFFSET scans anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

# 200 pages of 50: further back than anyone pages by hand; the state filter narrows the rest.
COUNT_CAP = 10_000


def capped_count(queryset: QuerySet[Any], *, cap: int) -> int:
    """The rows of `queryset`, counted up to `cap + 1` and no further: one
    `SELECT COUNT(*) FROM (SELECT id … LIMIT cap + 1)`. A result above `cap` means "more than
    `cap`"."""
    return queryset.order_by().values("pk")[: cap + 1].count()


class CappedPaginator(Paginator):
    """The web lists' paginator: pages reach the first `cap` rows (COUNT_CAP by default)."""

    def __init__(
        self,
        object_list: Any,
        per_page: int,
        *,
        cap: int | None = None,
        rows: Callable[[Any], Any] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(object_list, per_page, **kw)
        self.cap = COUNT_CAP if cap is None else cap
        # Reads a page's slice of the list (e.g. selectors.episode_list_page: as tuples into
        # light rows): the count still runs on the list itself.
        self.rows = rows

    def page(self, number: int | str) -> Page:
        page = super().page(number)
        if self.rows is not None:
            page.object_list = self.rows(page.object_list)
        return page

    @cached_property
    def _seen(self) -> int:
        return capped_count(cast(QuerySet[Any], self.object_list), cap=self.cap)

    @cached_property
    def count(self) -> int:
        return min(self._seen, self.cap)

    @property
    def capped(self) -> bool:
        """True when there are more rows than the pages reach (the count shown is the cap)."""
        return self._seen > self.cap


class ApiPagination(LimitOffsetPagination):
    """The API's lists: `?limit=` at most 200 a page (a larger one is served as 200), and
    `?offset=` past the largest integer the databases take is the end of the list (an empty
    page), never a number SQLite or PostgreSQL refuse in LIMIT/OFFSET.

    `count` is capped as on the web (`capped_count`): `count_capped` true means there are more
    rows than `count`. The count reaches COUNT_CAP or the end of this page, whichever is further,
    so `next` is given exactly when a row follows this page, at any offset.
    """

    max_limit = 200
    max_offset = 2_147_483_647

    def get_offset(self, request: Any) -> int:
        return min(super().get_offset(request), self.max_offset)

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        self.request = request
        self.limit = self.get_limit(request)
        if self.limit is None:
            return None
        self.offset = self.get_offset(request)
        reach = max(COUNT_CAP, self.offset + self.limit)
        self.seen = capped_count(queryset, cap=reach)
        self.count = min(self.seen, reach)
        self.count_capped = self.seen > reach
        if self.count > self.limit and self.template is not None:
            self.display_page_controls = True
        if self.offset >= self.count:
            return []
        return list(queryset[self.offset : self.offset + self.limit])

    def get_next_link(self) -> str | None:
        # Only called after paginate_queryset gave a page, so the request and limit are set.
        limit, offset, request = self.limit, self.offset, self.request
        if limit is None or offset is None or request is None or self.seen <= offset + limit:
            return None
        url = replace_query_param(request.build_absolute_uri(), self.limit_query_param, limit)
        return replace_query_param(url, self.offset_query_param, offset + limit)

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {
                "count": self.count,
                "count_capped": self.count_capped,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        answer = super().get_paginated_response_schema(schema)
        answer["required"] = ["count", "count_capped", "results"]
        answer["properties"]["count"]["description"] = (
            f"The rows in the list, counted up to {COUNT_CAP:,} or the end of this page, "
            "whichever is further; when `count_capped` is true there are more (read it as 'N+')."
        )
        answer["properties"] = {
            "count": answer["properties"]["count"],
            "count_capped": {
                "type": "boolean",
                "example": False,
                "description": "True when the list holds more rows than `count`.",
            },
            **{k: v for k, v in answer["properties"].items() if k != "count"},
        }
        return answer
