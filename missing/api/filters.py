"""Query-string filters for the API lists. They narrow a queryset that visible_to() has already
cut down to what the user may see; they never widen it."""

from __future__ import annotations

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

from missing.models import (
    INTERVIEW_PENDING_STATES,
    OPEN_STATES,
    EpisodeState,
    MissingEpisode,
    NotificationKind,
    PoliceNotification,
)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """A whole-number id. NumberFilter takes decimals ("1.5"), which an id never is."""

    field_class = forms.IntegerField


@extend_schema_field(OpenApiTypes.BOOL)
class OverdueFilter(filters.BooleanFilter):
    """Typed for the schema: a filter with a method= is otherwise documented as a string."""


class NotificationFilter(filters.FilterSet):
    match_status = filters.ChoiceFilter(choices=PoliceNotification.MatchStatus.choices)
    kind = filters.ChoiceFilter(choices=NotificationKind.choices)

    class Meta:
        model = PoliceNotification
        fields = ["match_status", "kind"]


class EpisodeFilter(filters.FilterSet):
    state = filters.ChoiceFilter(choices=EpisodeState.choices)
    child = IdFilter(field_name="child_id", min_value=1, max_value=2**63 - 1)
    overdue = OverdueFilter(
        method="filter_overdue",
        label="Open episodes with a manager review or a return interview past due (true), "
        "or with none past due (false).",
    )

    class Meta:
        model = MissingEpisode
        fields = ["state", "child", "overdue"]

    def filter_overdue(
        self, queryset: QuerySet[MissingEpisode], name: str, value: bool | None
    ) -> QuerySet[MissingEpisode]:
        if value is None:
            return queryset
        # The clock is read here, once, for this one filter: "overdue" means overdue now.
        now = timezone.now()
        late = Q(review_due_at__lt=now) | Q(
            state__in=INTERVIEW_PENDING_STATES, interview_due_at__lt=now
        )
        open_ = queryset.filter(state__in=OPEN_STATES)
        return open_.filter(late) if value else open_.exclude(late)
