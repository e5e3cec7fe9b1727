"""A paginator whose cost follows the page, not the table.

Django's Paginator counts every row to show "Page 3 of N". At national scale the episode list
holds millions of rows, and that COUNT(*) is the most expensive query of the page. This one
counts at most `cap` rows (a LIMIT inside the count), so the page costs the same at ten thousand
and at ten million episodes; past the cap the page says "more than 10,000" and the filters
narrow it.
"""

from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.utils.functional import cached_property
from rest_framework.pagination import LimitOffsetPagination

# 200 pages of 50: further back than anyone pages by hand; the state filter narrows the rest.
COUNT_CAP = 10_000


class CappedPaginator(Paginator):
    def __init__(
        self, object_list: Any, per_page: int, *, cap: int | None = None, **kw: Any
    ) -> None:
        super().__init__(object_list, per_page, **kw)
        self.cap = COUNT_CAP if cap is None else cap

    @cached_property
    def _seen(self) -> int:
        """Rows counted, up to cap + 1: one SELECT COUNT(*) FROM (SELECT id … LIMIT cap + 1)."""
        return self.object_list.order_by().values("pk")[: self.cap + 1].count()

    @cached_property
    def count(self) -> int:  # type: ignore[override]
        return min(self._seen, self.cap)

    @property
    def capped(self) -> bool:
        """True when there are more rows than the pages reach (the count shown is the cap)."""
        return self._seen > self.cap


class ApiPagination(LimitOffsetPagination):
    """The API's lists: `?limit=` at most 200 a page (a larger one is served as 200), and
    `?offset=` past the largest integer the databases take is the end of the list (an empty
    page), never a number SQLite or PostgreSQL refuse in LIMIT/OFFSET."""

    max_limit = 200
    max_offset = 2_147_483_647

    def get_offset(self, request: Any) -> int:
        return min(super().get_offset(request), self.max_offset)
