"""The REST API: a thin layer over `missing.cases.services` (writes) and `missing.cases.selectors` /
`visible_to()` querysets (reads).

Each write view validates type and shape with an input serializer, reads the clock once and
calls one service with the acting user; the one exception handler (`missing.api.errors`) turns
the service's refusals into 400/403/404/409, so no view holds a try/except. Endpoints admit roles
through `missing.accounts.permissions`; which rows a user sees is the querysets' business.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from drf_spectacular.utils import (
    OpenApiResponse,
    extend_schema,
)
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from missing.accounts.permissions import (
    CanReadCases,
    CanSubmitNotifications,
    IsOversightRole,
    IsStaffWithFullAccess,
)
from missing.api.filters import EpisodeFilter, NotificationFilter
from missing.api.serializers import (
    BoardOut,
    CancelIn,
    ChildDetailOut,
    ChildFactsIn,
    ChildMergeIn,
    ChildMergeOut,
    ChildOut,
    ChildSearchIn,
    DecisionCreatedOut,
    DecisionIn,
    DecisionOut,
    EpisodeDetailOut,
    EpisodeFlagsIn,
    EpisodeListOut,
    EventOut,
    LegalStatusPeriodChangeIn,
    LegalStatusPeriodIn,
    LegalStatusPeriodOut,
    LegalStatusPeriodRemoveIn,
    NotificationDetailOut,
    NotificationIn,
    NotificationOut,
    NotificationReceiptOut,
    NotificationReviewIn,
    PoliceForceOut,
    ResolveMatchIn,
    ReturnIn,
    RiskGradeOut,
    RiskMeetingCompleteIn,
    RiskMeetingTaskOut,
    SignOffIn,
)
from missing.audit import access_log as audit
from missing.cases import child_facts, clocks, selectors, services
from missing.cases.merge import child_merge
from missing.models import (
    CASE_READERS,
    Child,
    EpisodeEvent,
    LegalStatusPeriod,
    MissingEpisode,
    OversightDecision,
    PoliceForce,
    PoliceNotification,
    RiskGrade,
    RiskMeetingTask,
    User,
)
from missing.web.shared import StaffApiRequest, error_responses


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Tells drf-spectacular how `missing.accounts.auth.ApiTokenAuthentication` is used."""

    target_class = "missing.accounts.auth.ApiTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(
            header_name="AUTHORIZATION",
            token_prefix="Bearer",  # noqa: S106 - the scheme's name, not a secret
        )


READ_ERRORS = error_responses(401, 403, 404, 429)
LIST_ERRORS = error_responses(400, 401, 403, 429)
WRITE_ERRORS = error_responses(400, 401, 403, 404, 409)


# The transitions a user can start through the API; regrade arrives only as a notification.
API_TRANSITIONS = ("record_return", "review", "sign_off", "cancel")


def _episode_out(episode: MissingEpisode, request: StaffApiRequest) -> dict[str, Any]:
    episode.available_transitions = [  # type: ignore[attr-defined]
        name
        for name in selectors.startable_transitions(episode, request.user)
        if name in API_TRANSITIONS
    ]
    return EpisodeDetailOut(episode, context={"request": request}).data


def _visible_episode(user: User, pk: int) -> MissingEpisode:
    """The episode if this user may see it; 404 otherwise (existence is not disclosed)."""
    return get_object_or_404(MissingEpisode.objects.visible_to(user).with_related(), pk=pk)


class AccessLoggedListMixin:
    """A paginated list writes one access row with the ids of the children on the page it
    returned (missing.audit.access_log; one row per request, whatever the page's length)."""

    child_id_attr = "child_id"

    def paginate_queryset(self, queryset: Any) -> Any:
        page = super().paginate_queryset(queryset)  # type: ignore[misc]
        rows = page if page is not None else queryset
        audit.record_list(
            self.request,  # type: ignore[attr-defined]
            child_ids=[getattr(row, self.child_id_attr) for row in rows],
        )
        return page


class JsonApi(APIView):
    """The API speaks JSON only: a form-encoded body would arrive with every value as text."""


# --------------------------------------------------------------------------------------------
# Notifications
# --------------------------------------------------------------------------------------------


def _notifications_for(user: User) -> QuerySet[PoliceNotification]:
    return selectors.notification_list(user)


class NotificationListCreateApi(AccessLoggedListMixin, generics.ListAPIView):
    permission_classes = [CanSubmitNotifications]
    request: StaffApiRequest  # the permission class admits signed-in staff only
    serializer_class = NotificationOut
    filterset_class = NotificationFilter

    def get_queryset(self) -> QuerySet[PoliceNotification]:
        return _notifications_for(self.request.user)

    @extend_schema(
        operation_id="notifications_list",
        summary="List police notifications (case staff)",
        responses={200: NotificationOut(many=True), **LIST_ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="notifications_create",
        summary="Receive a police notification (intake)",
        description=(
            "Police systems (intake-scoped token) and case staff. Every notification that "
            "validates is stored, whatever order it arrives in and whatever state its episode "
            "is in; match_status and outcome_detail say what became of it: matched (applied "
            "to its episode), awaiting_match (held for FFD to confirm the child), "
            "awaiting_report (a found, regrade or update whose incident has no episode yet: "
            "applied, in order, when the reported-missing notification arrives), recorded "
            "(kept on the episode's record, nothing to change) or needs_review (kept on the "
            "episode, differs from its record, e.g. a found after FFD recorded the return at "
            "another time, or a second force's report of a child already missing: FFD "
            "decides). Idempotent on (police_force, police_reference, kind, sequence): the "
            "same notification again returns the stored one with 200 and changes nothing; "
            "the same key with different details is the only 409. Unknown keys, wrong types "
            "and time-zone-less date-times are refused with 400 naming the field. A police "
            "system gets a receipt without the child's details."
        ),
        request=NotificationIn,
        responses={
            201: OpenApiResponse(
                NotificationReceiptOut,
                description=(
                    "Received and stored; match_status says what became of it. Case staff "
                    "get the whole notification (the fields of NotificationOut)."
                ),
            ),
            200: OpenApiResponse(
                NotificationReceiptOut,
                description="Already received with these details: the stored one, unchanged.",
            ),
            **error_responses(400, 401, 403, 409),
        },
    )
    def post(self, request: StaffApiRequest) -> Response:
        user = request.user
        # A police system's force came with its token (ApiTokenAuthentication): not read again.
        loaded = [user.police_force] if user.police_force_id is not None else []
        serializer = NotificationIn(data=request.data, context={"loaded": loaded})
        serializer.is_valid(raise_exception=True)
        result = services.notification_receive(
            serializer.to_data(),
            actor=user,
            payload=request.data,
            now=timezone.now(),
            # Any refusal rolls the request's transaction back whole (ATOMIC_REQUESTS and DRF's
            # exception handler): no savepoint of the service's own is needed.
            savepoint=False,
        )
        out = NotificationOut if request.user.has_role(CASE_READERS) else NotificationReceiptOut
        return Response(
            out(result.notification, context={"request": request}).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )


class NotificationDetailApi(generics.RetrieveAPIView):
    permission_classes = [IsStaffWithFullAccess]
    request: StaffApiRequest  # the permission class admits signed-in staff only
    serializer_class = NotificationDetailOut

    def get_queryset(self) -> QuerySet[PoliceNotification]:
        return _notifications_for(self.request.user)

    @extend_schema(
        operation_id="notifications_retrieve",
        summary="One police notification, with the payload as received",
        responses={200: NotificationDetailOut, **READ_ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        notification = self.get_object()
        audit.record_view(request, child_id=notification.child_id, reference=notification.reference)
        return Response(self.get_serializer(notification).data)


class NotificationCandidatesApi(APIView):
    permission_classes = [IsStaffWithFullAccess]

    @extend_schema(
        operation_id="notifications_candidates",
        summary="Children the held notification may be about",
        description="Same last name and date of birth, or same first and last name.",
        responses={200: ChildOut(many=True), **READ_ERRORS},
    )
    def get(self, request: StaffApiRequest, pk: int) -> Response:
        notification = get_object_or_404(_notifications_for(request.user), pk=pk)
        candidates = services.child_match_candidates(
            first_name=notification.child_first_name,
            last_name=notification.child_last_name,
            date_of_birth=notification.child_date_of_birth,
            council_id=notification.council_id,
        )
        audit.record_list(request, child_ids=[child.pk for child in candidates])
        # With their legal status today, as every ChildOut (one more query for all of them).
        children = (
            Child.objects.with_legal_status(clocks.london_date(timezone.now()))
            .filter(pk__in=[child.pk for child in candidates])
            .order_by("pk")
        )
        return Response(ChildOut(children, many=True).data)


class NotificationResolveMatchApi(JsonApi):
    permission_classes = [IsStaffWithFullAccess]

    @extend_schema(
        operation_id="notifications_resolve_match",
        summary="Confirm the child a held notification is about, or create a new one",
        request=ResolveMatchIn,
        responses={200: NotificationOut, **WRITE_ERRORS},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = ResolveMatchIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        get_object_or_404(_notifications_for(request.user), pk=pk)
        notification = services.notification_resolve_match(
            serializer.to_data(), actor=request.user, notification_id=pk, now=timezone.now()
        )
        return Response(NotificationOut(notification, context={"request": request}).data)


class NotificationReviewApi(JsonApi):
    permission_classes = [IsStaffWithFullAccess]

    @extend_schema(
        operation_id="notifications_review",
        summary="Review a notification that differs from its episode's record",
        description=(
            "For a notification with match_status needs_review (FFD, managers, heads of "
            "service): apply the police details to the episode, or keep the record as it is. "
            "409 when it is already reviewed, or when applying would break a rule (a return "
            "before last seen, an overlap with another episode, a closed episode)."
        ),
        request=NotificationReviewIn,
        responses={200: NotificationOut, **WRITE_ERRORS},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = NotificationReviewIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        get_object_or_404(_notifications_for(request.user), pk=pk)
        notification = services.notification_review(
            serializer.to_data(), actor=request.user, notification_id=pk, now=timezone.now()
        )
        return Response(NotificationOut(notification, context={"request": request}).data)


# --------------------------------------------------------------------------------------------
# Children
# --------------------------------------------------------------------------------------------


class ChildListApi(AccessLoggedListMixin, generics.ListAPIView):
    permission_classes = [CanReadCases]
    serializer_class = ChildOut
    filter_backends: list[Any] = []
    child_id_attr = "pk"

    def get_queryset(self) -> QuerySet[Child]:
        return selectors.child_list(self.request.user)

    @extend_schema(
        operation_id="children_list",
        summary="Children you may see",
        description="To search by name, POST to /api/children/search/: a name never goes in "
        "a URL, where proxies, browser histories and server logs keep it.",
        responses={200: ChildOut(many=True), **LIST_ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class ChildSearchApi(AccessLoggedListMixin, generics.GenericAPIView):
    """A name search in the request body (POST), never in the query string. Reads only."""

    permission_classes = [CanReadCases]
    serializer_class = ChildOut
    filter_backends: list[Any] = []
    child_id_attr = "pk"
    rate_limit_scope = "search"  # missing.accounts.security.ListRateThrottle

    @extend_schema(
        operation_id="children_search",
        summary="Search the children you may see by last-name prefix or council child id",
        request=ChildSearchIn,
        responses={200: ChildOut(many=True), **LIST_ERRORS},
    )
    def post(self, request: StaffApiRequest) -> Response:
        serializer = ChildSearchIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        queryset = selectors.child_list(request.user, search=serializer.validated_data["search"])
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(ChildOut(page, many=True).data)


def _visible_child(user: User, pk: int) -> Child:
    """The child if this user may see them; 404 otherwise (existence is not disclosed)."""
    return get_object_or_404(Child.objects.visible_to(user), pk=pk)


class ChildDetailApi(JsonApi):
    rate_limit_scope = {"GET": "read"}  # counted before the lookup: 404 probes count too

    def get_permissions(self) -> list[Any]:
        # Interviewers may read a granted child; the facts are changed by FFD and managers.
        return [CanReadCases() if self.request.method == "GET" else IsStaffWithFullAccess()]

    @extend_schema(
        operation_id="children_retrieve",
        summary="One child: facts, legal status today and its periods, the episodes you may see",
        responses={200: ChildDetailOut, **READ_ERRORS},
    )
    def get(self, request: StaffApiRequest, pk: int) -> Response:
        child = selectors.child_detail(request.user, pk)
        audit.record_view(request, child_id=child.pk, reference=child.reference)
        return Response(ChildDetailOut(child).data)

    @extend_schema(
        operation_id="children_facts_update",
        summary="Change the child's facts, with a reason (FFD, managers)",
        description=(
            "Only the fields sent change: NHS number (10 digits, with or without spaces, check "
            "digit verified, unique), council child id (unique), social worker (a user's id, or "
            "a name when they are not a user: never both), allocated team, placement provider, "
            "placement area (never a full address), placing / responsible and host council. "
            "`reason` is required and kept in the change history. 400 names each bad field; "
            "409 when `version` is stale. Legal status is changed through "
            "/api/children/{id}/legal-status/."
        ),
        request=ChildFactsIn,
        responses={200: ChildDetailOut, **WRITE_ERRORS},
    )
    def patch(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = ChildFactsIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        _visible_child(request.user, pk)
        child_facts.child_update_facts(
            serializer.to_data(),
            actor=request.user,
            child_id=pk,
            now=timezone.now(),
            expected_version=serializer.validated_data.get("version"),
        )
        return Response(ChildDetailOut(selectors.child_detail(request.user, pk)).data)


class ChildLegalStatusApi(JsonApi):
    permission_classes = [IsStaffWithFullAccess]

    @extend_schema(
        operation_id="children_legal_status_list",
        summary="The child's legal-status periods, latest first",
        description="Looked after, child protection plan and child in need, each with its "
        "dates, where it came from (recorded by hand, or imported with the case system's key) "
        "and the reason for its last change. Case staff only.",
        responses={200: LegalStatusPeriodOut(many=True), **READ_ERRORS},
    )
    def get(self, request: StaffApiRequest, pk: int) -> Response:
        child = _visible_child(request.user, pk)
        audit.record_view(request, child_id=child.pk, reference=child.reference)
        periods = child.legal_status_periods.select_related("recorded_by").order_by(
            "-start_date", "-pk"
        )
        return Response(LegalStatusPeriodOut(periods, many=True).data)

    @extend_schema(
        operation_id="children_legal_status_create",
        summary="Record a legal-status period, with a reason (FFD, managers)",
        description=(
            "Looked after, child protection plan or child in need, from `start_date` until "
            "`end_date` (the day it ceased; null: still in force). The snapshot of every episode "
            "of the child that started (Europe/London date) inside the period changes with it, "
            "in the same transaction: the national returns and figures read the snapshot. 400 "
            "names each bad field (an overlap with a period of the same status too); 409 when "
            "`version` (the child's) is stale."
        ),
        request=LegalStatusPeriodIn,
        responses={201: LegalStatusPeriodOut, **WRITE_ERRORS},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = LegalStatusPeriodIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        _visible_child(request.user, pk)
        period = child_facts.legal_status_period_add(
            serializer.to_data(),
            actor=request.user,
            child_id=pk,
            now=timezone.now(),
            expected_version=serializer.validated_data.get("version"),
        )
        return Response(LegalStatusPeriodOut(period).data, status=status.HTTP_201_CREATED)


class ChildLegalStatusDetailApi(JsonApi):
    permission_classes = [IsStaffWithFullAccess]

    def _period(self, request: StaffApiRequest, pk: int, period_id: int) -> LegalStatusPeriod:
        child = _visible_child(request.user, pk)
        return get_object_or_404(child.legal_status_periods.all(), pk=period_id)

    @extend_schema(
        operation_id="children_legal_status_update",
        summary="End or correct a legal-status period, with a reason (FFD, managers)",
        description=(
            "Only the fields sent change; `end_date: null` reopens the period. The child's "
            "episode snapshots are recomputed in the same transaction. 409 when `version` (the "
            "period's) is stale."
        ),
        request=LegalStatusPeriodChangeIn,
        responses={200: LegalStatusPeriodOut, **WRITE_ERRORS},
    )
    def patch(self, request: StaffApiRequest, pk: int, period_id: int) -> Response:
        serializer = LegalStatusPeriodChangeIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        self._period(request, pk, period_id)
        period = child_facts.legal_status_period_change(
            serializer.to_data(),
            actor=request.user,
            period_id=period_id,
            now=timezone.now(),
            expected_version=serializer.validated_data.get("version"),
        )
        return Response(LegalStatusPeriodOut(period).data)

    @extend_schema(
        operation_id="children_legal_status_destroy",
        summary="Remove a legal-status period recorded in error, with a reason (FFD, managers)",
        description=(
            "For a period that should never have been recorded; a period that ended is ended "
            '(PATCH `end_date`), not removed. The JSON body is `{"reason": "…", '
            '"version": n}` (`reason` required, kept in the change history; `version`, the '
            "period's, optional: 409 when stale). OpenAPI 3.0 cannot describe a DELETE body, so "
            "it is documented here; without a reason the answer is 400."
        ),
        responses={204: None, **WRITE_ERRORS},
    )
    def delete(self, request: StaffApiRequest, pk: int, period_id: int) -> Response:
        serializer = LegalStatusPeriodRemoveIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        self._period(request, pk, period_id)
        child_facts.legal_status_period_remove(
            serializer.to_data(),
            actor=request.user,
            period_id=period_id,
            now=timezone.now(),
            expected_version=serializer.validated_data.get("version"),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------------------------
# Episodes
# --------------------------------------------------------------------------------------------


class EpisodeListApi(AccessLoggedListMixin, generics.ListAPIView):
    permission_classes = [CanReadCases]
    serializer_class = EpisodeListOut
    filterset_class = EpisodeFilter

    def get_queryset(self) -> QuerySet[MissingEpisode]:
        # One query per page whatever its length: with_related() joins child, grade and force.
        return selectors.episode_list(self.request.user)

    @extend_schema(
        operation_id="episodes_list",
        summary="Missing episodes you may see, latest first",
        responses={200: EpisodeListOut(many=True), **LIST_ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class EpisodeDetailApi(APIView):
    permission_classes = [CanReadCases]
    rate_limit_scope = {"GET": "read"}

    @extend_schema(
        operation_id="episodes_retrieve",
        summary="One episode: state, version, clocks and what you may do to it now",
        responses={200: EpisodeDetailOut, **READ_ERRORS},
    )
    def get(self, request: StaffApiRequest, pk: int) -> Response:
        episode = _visible_episode(request.user, pk)
        audit.record_view(request, child_id=episode.child_id, reference=episode.reference)
        return Response(_episode_out(episode, request))


class EpisodeDecisionsApi(JsonApi):
    def get_permissions(self) -> list[Any]:
        # Interviewers may read a granted episode's decisions; recording one is for staff, and
        # among staff the service lets only managers and heads of service (403 for the rest).
        return [CanReadCases() if self.request.method == "GET" else IsStaffWithFullAccess()]

    @extend_schema(
        operation_id="episodes_decisions_list",
        summary="The manager oversight decisions on an episode, oldest first",
        responses={200: DecisionOut(many=True), **READ_ERRORS},
    )
    def get(self, request: StaffApiRequest, pk: int) -> Response:
        episode = _visible_episode(request.user, pk)
        audit.record_view(request, child_id=episode.child_id, reference=episode.reference)
        decisions = OversightDecision.objects.filter(episode=episode).select_related("decided_by")
        return Response(DecisionOut(decisions, many=True).data)

    @extend_schema(
        operation_id="episodes_decisions_create",
        summary="Record a manager oversight decision (managers, heads of service)",
        request=DecisionIn,
        responses={201: DecisionCreatedOut, **WRITE_ERRORS},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = DecisionIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        _visible_episode(request.user, pk)
        decision = services.episode_record_decision(
            serializer.to_data(),
            actor=request.user,
            episode_id=pk,
            now=timezone.now(),
            expected_version=serializer.validated_data.get("version"),
        )
        return Response(DecisionCreatedOut(decision).data, status=status.HTTP_201_CREATED)


class EpisodeReturnApi(JsonApi):
    permission_classes = [IsStaffWithFullAccess]

    @extend_schema(
        operation_id="episodes_return",
        summary="Record the child's return; the interview falls due 72 hours later",
        request=ReturnIn,
        responses={200: EpisodeDetailOut, **WRITE_ERRORS},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = ReturnIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        _visible_episode(request.user, pk)
        services.episode_record_return(
            serializer.to_data(),
            actor=request.user,
            episode_id=pk,
            now=timezone.now(),
            expected_version=serializer.validated_data.get("version"),
        )
        return Response(_episode_out(_visible_episode(request.user, pk), request))


class EpisodeCancelApi(JsonApi):
    permission_classes = [IsStaffWithFullAccess]

    @extend_schema(
        operation_id="episodes_cancel",
        summary="Cancel an episode logged in error, with a reason (managers)",
        request=CancelIn,
        responses={200: EpisodeDetailOut, **WRITE_ERRORS},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = CancelIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        _visible_episode(request.user, pk)
        services.episode_cancel(
            serializer.to_data(),
            actor=request.user,
            episode_id=pk,
            now=timezone.now(),
            expected_version=serializer.validated_data.get("version"),
        )
        return Response(_episode_out(_visible_episode(request.user, pk), request))


class EpisodeSignOffApi(JsonApi):
    permission_classes = [IsStaffWithFullAccess]

    @extend_schema(
        operation_id="episodes_sign_off",
        summary="Sign a returned, reviewed episode off (managers)",
        request=SignOffIn,
        responses={200: EpisodeDetailOut, **WRITE_ERRORS},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = SignOffIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        _visible_episode(request.user, pk)
        services.episode_sign_off(
            serializer.to_data(),
            actor=request.user,
            episode_id=pk,
            now=timezone.now(),
            expected_version=serializer.validated_data.get("version"),
        )
        return Response(_episode_out(_visible_episode(request.user, pk), request))


class EpisodeFlagsApi(JsonApi):
    permission_classes = [IsOversightRole]

    @extend_schema(
        operation_id="episodes_flags",
        summary="Set the episode's exploitation and mental-health flags (managers)",
        description=(
            "The three flags become exactly the values sent. A change goes on the timeline and "
            "may raise a strategy / risk meeting task (the exploitation rule) in the same "
            "transaction. 409 for a stale version or a cancelled episode."
        ),
        request=EpisodeFlagsIn,
        responses={200: EpisodeDetailOut, **WRITE_ERRORS},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = EpisodeFlagsIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        _visible_episode(request.user, pk)
        services.episode_set_flags(
            serializer.to_data(),
            actor=request.user,
            episode_id=pk,
            now=timezone.now(),
            expected_version=serializer.validated_data.get("version"),
        )
        return Response(_episode_out(_visible_episode(request.user, pk), request))


class EpisodeEventsApi(APIView):
    permission_classes = [CanReadCases]

    @extend_schema(
        operation_id="episodes_events_list",
        summary="The episode's timeline: every transition, who, when, from, to and why",
        responses={200: EventOut(many=True), **READ_ERRORS},
    )
    def get(self, request: StaffApiRequest, pk: int) -> Response:
        episode = _visible_episode(request.user, pk)
        audit.record_view(request, child_id=episode.child_id, reference=episode.reference)
        events = EpisodeEvent.objects.filter(episode=episode).select_related("actor")
        return Response(EventOut(events, many=True).data)


# --------------------------------------------------------------------------------------------
# The board and reference data
# --------------------------------------------------------------------------------------------


class BoardApi(APIView):
    permission_classes = [IsStaffWithFullAccess]
    rate_limit_scope = "list"  # a list in all but name (missing.accounts.security.ListRateThrottle)

    @extend_schema(
        operation_id="board_retrieve",
        summary="The front-door board: open episodes, most urgent clock first",
        responses={200: BoardOut, **error_responses(401, 403, 429)},
    )
    def get(self, request: StaffApiRequest) -> Response:
        now = timezone.now()
        board = selectors.board(user=request.user, now=now)
        audit.record_list(request, child_ids=[row.episode.child_id for row in board.rows])
        return Response(
            BoardOut(
                {
                    "generated_at": now,
                    "rows": board.rows,
                    "stages": [
                        {"key": key, "label": label, "count": count}
                        for key, label, count in board.stages
                    ],
                    "overdue_count": board.overdue_count,
                    "awaiting_match_count": len(board.awaiting_match),
                    "risk_meeting_count": board.meeting_task_count,
                }
            ).data
        )


class RiskMeetingListApi(AccessLoggedListMixin, generics.ListAPIView):
    permission_classes = [IsStaffWithFullAccess]
    serializer_class = RiskMeetingTaskOut
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[RiskMeetingTask]:
        # One query per page: the child, rule and episode are joined.
        return selectors.open_meeting_tasks(self.request.user)

    @extend_schema(
        operation_id="risk_meetings_list",
        summary="Open strategy / risk meeting tasks, oldest first (case staff)",
        responses={200: RiskMeetingTaskOut(many=True), **LIST_ERRORS},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class RiskMeetingCompleteApi(JsonApi):
    permission_classes = [IsOversightRole]

    @extend_schema(
        operation_id="risk_meetings_complete",
        summary="Complete a strategy / risk meeting task with its outcome (managers)",
        description=(
            "The outcome is required (400). 409 when the task was already completed or "
            "`version` is stale."
        ),
        request=RiskMeetingCompleteIn,
        responses={200: RiskMeetingTaskOut, **WRITE_ERRORS},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = RiskMeetingCompleteIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        get_object_or_404(RiskMeetingTask.objects.visible_to(request.user), pk=pk)
        task = services.risk_task_complete(
            serializer.to_data(),
            actor=request.user,
            task_id=pk,
            now=timezone.now(),
            expected_version=serializer.validated_data.get("version"),
        )
        return Response(RiskMeetingTaskOut(task).data)


class RiskGradeListApi(generics.ListAPIView):
    permission_classes = [IsStaffWithFullAccess]
    serializer_class = RiskGradeOut
    pagination_class = None
    filter_backends: list[Any] = []
    queryset = RiskGrade.objects.order_by("rank", "code")

    @extend_schema(
        operation_id="risk_grades_list",
        summary="Police risk grades (reference data)",
        responses={200: RiskGradeOut(many=True), **error_responses(401, 403, 429)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PoliceForceListApi(generics.ListAPIView):
    permission_classes = [IsStaffWithFullAccess]
    serializer_class = PoliceForceOut
    pagination_class = None
    filter_backends: list[Any] = []
    queryset = PoliceForce.objects.order_by("name")

    @extend_schema(
        operation_id="police_forces_list",
        summary="Police forces (reference data)",
        responses={200: PoliceForceOut(many=True), **error_responses(401, 403, 429)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


# --------------------------------------------------------------------------------------------
# Merging two child records created in error (missing.cases.merge)
# --------------------------------------------------------------------------------------------


class ChildMergeApi(JsonApi):
    # FFD, managers and heads of service: the case staff (missing.cases.merge.MERGE_ROLES).
    permission_classes = [IsStaffWithFullAccess]

    @extend_schema(
        operation_id="children_merge",
        summary="Merge another child record, created in error, into this one",
        description=(
            "Moves every episode, police notification, strategy / risk meeting task and "
            "return interview of child `remove` onto this child, fills this child's blank "
            "details from it, and deletes it. 400 names each bad field (an unknown `remove` "
            "too). 409 when the two records have different council child ids or dates of "
            "birth (correct the case system first), when the merge would give the child "
            "overlapping episodes (cancel the duplicate episode first), or when either record "
            "was merged or erased meanwhile."
        ),
        request=ChildMergeIn,
        responses={200: ChildMergeOut, **WRITE_ERRORS},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        serializer = ChildMergeIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        get_object_or_404(Child.objects.visible_to(request.user), pk=pk)
        if not Child.objects.visible_to(request.user).filter(pk=data["remove"]).exists():
            raise ValidationError({"remove": [f"There is no child C-{data['remove']}."]})
        merge = child_merge(
            serializer.to_data(), actor=request.user, keep_id=pk, now=timezone.now()
        )
        child = selectors.child_detail(request.user, pk)
        return Response(ChildMergeOut({"child": child, "merge": merge}).data)
