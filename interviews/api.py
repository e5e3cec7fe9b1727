"""The return-interview API: a provider's own app can arrange, record and follow interviews.
Thin, as `missing.api.views`: an input serializer checks type and shape, one service call does the
work, and the one exception handler (`missing.api.errors`) turns refusals into 400/403/404/409.
Rows come through `visible_to()`: an interviewer sees only the interviews assigned to them."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from interviews import figures as fig
from interviews import selectors, services
from interviews.figures_views import figures_form
from interviews.models import ReturnInterview
from interviews.serializers import (
    AddEpisodeIn,
    AssignIn,
    AttemptIn,
    AttemptOut,
    FactorOut,
    FiguresOut,
    InterviewCreateIn,
    InterviewDetailOut,
    InterviewListOut,
    InterviewSignOffIn,
    RecordIn,
    RecordSavedOut,
    StaleEditOut,
    UnassignIn,
    VersionIn,
)
from missing.accounts.permissions import CanReadCases, IsOversightRole, IsStaffWithFullAccess
from missing.api.views import READ_ERRORS, AccessLoggedListMixin, JsonApi
from missing.audit import access_log as audit
from missing.models import OVERSIGHT_ROLES, Child, Role, interview_arranger_roles
from missing.web.shared import StaffApiRequest, error_responses

WRITE_ERRORS = error_responses(400, 401, 403, 404)
STALE = OpenApiResponse(
    StaleEditOut,
    description=(
        "Conflict: the interview's state forbids it, or it changed since the version you sent "
        "(`current_version`; for a record edit, `differences`: each field where yours and "
        "theirs differ). Nothing was saved."
    ),
)


class CanArrangeInterviews(IsStaffWithFullAccess):
    """Managers, and the Family Front Door where local protocol says so."""

    message = "Your role cannot arrange return interviews."

    def has_permission(self, request: Request, view: Any) -> bool:
        self.allowed_roles = interview_arranger_roles()
        return super().has_permission(request, view)


class CanRecordInterviews(IsStaffWithFullAccess):
    """The interviewer (their own interviews: visible_to decides which) and managers."""

    allowed_roles = OVERSIGHT_ROLES | {Role.INTERVIEWER}
    message = "Only interviewers and managers write interviews."


class CanRecordAttempts(IsStaffWithFullAccess):
    message = "Only the interviewer or an arranger can record attempts."

    def has_permission(self, request: Request, view: Any) -> bool:
        self.allowed_roles = interview_arranger_roles() | {Role.INTERVIEWER}
        return super().has_permission(request, view)


def _visible(request: StaffApiRequest, pk: int) -> ReturnInterview:
    return get_object_or_404(selectors.interviews_visible(request.user), pk=pk)


def _detail(request: StaffApiRequest, pk: int) -> dict[str, Any]:
    return InterviewDetailOut(selectors.interview_detail(request.user, pk)).data


def _logged_detail(request: StaffApiRequest, pk: int) -> dict[str, Any]:
    interview = selectors.interview_detail(request.user, pk)
    audit.record_view(request, child_id=interview.child_id, reference=interview.reference)
    return InterviewDetailOut(interview).data


class FactorListApi(generics.ListAPIView):
    permission_classes = [CanReadCases]
    serializer_class = FactorOut
    pagination_class = None
    filter_backends: list[Any] = []
    queryset = selectors.all_factors()

    @extend_schema(
        operation_id="interview_factors_list",
        summary="Push factors, pull factors and harms (code lists; retired ones inactive)",
        responses={200: FactorOut(many=True), **error_responses(401, 403, 429)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class InterviewListCreateApi(AccessLoggedListMixin, generics.ListAPIView, JsonApi):
    serializer_class = InterviewListOut
    filter_backends: list[Any] = []

    def get_permissions(self) -> list[Any]:
        # Interviewers list their own; opening an interview is for the case team (arrangers).
        return [CanReadCases() if self.request.method == "GET" else CanArrangeInterviews()]

    def get_queryset(self) -> QuerySet[ReturnInterview]:
        return selectors.interview_list(self.request.user)

    @extend_schema(
        operation_id="interviews_list",
        summary="Return interviews you may see, soonest due first",
        responses={200: InterviewListOut(many=True), **error_responses(401, 403, 429)},
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="interviews_create",
        summary="Open a return interview covering one or more returned episodes of one child",
        request=InterviewCreateIn,
        responses={201: InterviewDetailOut, **WRITE_ERRORS, 409: STALE},
    )
    def post(self, request: StaffApiRequest) -> Response:
        serializer = InterviewCreateIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.to_data()
        get_object_or_404(Child.objects.visible_to(request.user), pk=data.child_id)
        interview = services.interview_create(data, actor=request.user, now=timezone.now())
        return Response(_detail(request, interview.pk), status=status.HTTP_201_CREATED)


class InterviewDetailApi(JsonApi):
    permission_classes = [CanReadCases]

    @extend_schema(
        operation_id="interviews_retrieve",
        summary="One interview: episodes with their answers, attempts, the record, sign-off",
        responses={200: InterviewDetailOut, **READ_ERRORS},
    )
    def get(self, request: StaffApiRequest, pk: int) -> Response:
        return Response(_logged_detail(request, pk))


class InterviewAttemptsApi(JsonApi):
    def get_permissions(self) -> list[Any]:
        return [CanReadCases() if self.request.method == "GET" else CanRecordAttempts()]

    @extend_schema(
        operation_id="interviews_attempts_list",
        summary="Every offer and attempt to reach the child, oldest first",
        responses={200: AttemptOut(many=True), **READ_ERRORS},
    )
    def get(self, request: StaffApiRequest, pk: int) -> Response:
        interview = _visible(request, pk)
        audit.record_view(request, child_id=interview.child_id, reference=interview.reference)
        return Response(AttemptOut(interview.attempts.order_by("at", "pk"), many=True).data)

    @extend_schema(
        operation_id="interviews_attempts_create",
        summary="Record an offer or attempt (arrangers or the assigned interviewer)",
        request=AttemptIn,
        responses={201: AttemptOut, **WRITE_ERRORS, 409: STALE},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        _visible(request, pk)
        serializer = AttemptIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        attempt = services.interview_attempt_record(
            serializer.to_data(), actor=request.user, interview_id=pk, now=timezone.now()
        )
        return Response(AttemptOut(attempt).data, status=status.HTTP_201_CREATED)


class InterviewAssignApi(JsonApi):
    permission_classes = [CanArrangeInterviews]

    @extend_schema(
        operation_id="interviews_assign",
        summary="Assign the interviewer (independence checked) and the planned time and place",
        description=(
            "The interviewer must not be the child's allocated social worker, in the child's "
            "allocated team, or a carer or staff member of the child's placement. The one "
            "exception (the child asked to talk to a trusted carer or worker) needs "
            "`independence_exception_reason`, from a manager. Grants the interviewer the "
            "covered episodes; a replaced interviewer loses them."
        ),
        request=AssignIn,
        responses={200: InterviewDetailOut, **WRITE_ERRORS, 409: STALE},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        _visible(request, pk)
        serializer = AssignIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.interview_assign(
            serializer.to_data(),
            actor=request.user,
            interview_id=pk,
            expected_version=serializer.expected_version(),
            now=timezone.now(),
        )
        return Response(_detail(request, pk))


class InterviewUnassignApi(JsonApi):
    permission_classes = [CanArrangeInterviews]

    @extend_schema(
        operation_id="interviews_unassign",
        summary="Remove the interviewer: their access ends on their next request",
        request=UnassignIn,
        responses={200: InterviewDetailOut, **WRITE_ERRORS, 409: STALE},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        _visible(request, pk)
        serializer = UnassignIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.interview_unassign(
            serializer.to_data(),
            actor=request.user,
            interview_id=pk,
            expected_version=serializer.expected_version(),
            now=timezone.now(),
        )
        return Response(_detail(request, pk))


class InterviewAddEpisodeApi(JsonApi):
    permission_classes = [CanArrangeInterviews]

    @extend_schema(
        operation_id="interviews_add_episode",
        summary="Cover another returned episode of the same child",
        request=AddEpisodeIn,
        responses={200: InterviewDetailOut, **WRITE_ERRORS, 409: STALE},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        _visible(request, pk)
        serializer = AddEpisodeIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.interview_add_episode(
            serializer.to_data(),
            actor=request.user,
            interview_id=pk,
            expected_version=serializer.expected_version(),
            now=timezone.now(),
        )
        return Response(_detail(request, pk))


class InterviewRecordApi(JsonApi):
    permission_classes = [CanRecordInterviews]

    @extend_schema(
        operation_id="interviews_record",
        summary="Save part or all of the interview record (the interviewer, or a manager)",
        description=(
            "Only the fields sent change. `version` is required. Unknown factor codes, a time "
            "before the child's return or in the future are a 400 naming the field; a "
            "completed or signed-off interview is a 409."
        ),
        request=RecordIn,
        responses={200: RecordSavedOut, **WRITE_ERRORS, 409: STALE},
    )
    def patch(self, request: StaffApiRequest, pk: int) -> Response:
        _visible(request, pk)
        serializer = RecordIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.interview_record_update(
            serializer.to_data(),
            actor=request.user,
            interview_id=pk,
            expected_version=serializer.validated_data["version"],
            now=timezone.now(),
        )
        return Response(
            RecordSavedOut(
                {
                    "version": result.interview.version,
                    "merged": result.merged,
                    "changed": list(result.changed),
                }
            ).data
        )


class InterviewCompleteApi(JsonApi):
    permission_classes = [CanRecordInterviews]

    @extend_schema(
        operation_id="interviews_complete",
        summary="Complete the interview: checks the record and moves its episodes to sign-off",
        request=VersionIn,
        responses={200: InterviewDetailOut, **WRITE_ERRORS, 409: STALE},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        _visible(request, pk)
        serializer = VersionIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.interview_complete(
            serializer.to_data(),
            actor=request.user,
            interview_id=pk,
            expected_version=serializer.validated_data["version"],
            now=timezone.now(),
        )
        return Response(_detail(request, pk))


class InterviewSignOffApi(JsonApi):
    permission_classes = [IsOversightRole]

    @extend_schema(
        operation_id="interviews_sign_off",
        summary="A manager signs the completed interview off, with follow-up decisions",
        request=InterviewSignOffIn,
        responses={200: InterviewDetailOut, **WRITE_ERRORS, 409: STALE},
    )
    def post(self, request: StaffApiRequest, pk: int) -> Response:
        _visible(request, pk)
        serializer = InterviewSignOffIn(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.interview_sign_off(
            serializer.to_data(),
            actor=request.user,
            interview_id=pk,
            expected_version=serializer.expected_version(),
            now=timezone.now(),
        )
        return Response(_detail(request, pk))


class InterviewFiguresApi(JsonApi):
    """The figures page as JSON: the same parameters, read by the same function
    (`figures_views.figures_form`), the same definitions (`interviews.figures`) and the same
    gate (managers and heads of service: the figures cover every child)."""

    permission_classes = [IsOversightRole]

    @extend_schema(
        operation_id="interview_figures",
        summary="The figures page: episodes, children, interviews offered, held, within 72 hours",
        description=(
            "Every figure the figures page shows, for a period of Europe/London calendar dates "
            "(`period_start` to `period_end`, both inclusive; default: this month). Episodes, "
            "children, repeat children and manager reviews count the episodes that started in "
            "the period; the interview figures count the episodes whose child came back in it, "
            "each on its own (one interview covering two episodes counts for each, each against "
            "its own return). Each figure says whether it counts episodes or children and, "
            "where the page shows one, its share of another figure as a whole percentage. "
            "With the median hours from return to interview, the 12-month trend and the "
            "patterns. See docs/decisions/0032-figures-definitions.md."
        ),
        parameters=[
            OpenApiParameter(
                "period_start", OpenApiTypes.DATE, description="First day (London), inclusive."
            ),
            OpenApiParameter(
                "period_end", OpenApiTypes.DATE, description="Last day (London), inclusive."
            ),
            OpenApiParameter("team", OpenApiTypes.INT, description="The child's allocated team."),
            OpenApiParameter(
                "age_band",
                OpenApiTypes.STR,
                enum=[*fig.AGE_BANDS, fig.AGE_UNKNOWN],
                description="Age when the episode started.",
            ),
            OpenApiParameter(
                "legal_status",
                OpenApiTypes.STR,
                enum=list(fig.LEGAL_STATUSES),
                description="Legal status when the episode started.",
            ),
            OpenApiParameter(
                "provider", OpenApiTypes.INT, description="The interviewer's organisation."
            ),
        ],
        responses={200: FiguresOut, **error_responses(400, 401, 403)},
    )
    def get(self, request: StaffApiRequest) -> Response:
        now = timezone.now()
        form = figures_form(request.query_params, now)
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        filters = form.filters()
        figures = fig.compute_figures(filters, now=now)
        return Response(
            FiguresOut(
                {
                    "period_start": filters.period_start,
                    "period_end": filters.period_end,
                    "filters": {
                        "team": filters.team_id,
                        "age_band": filters.age_band,
                        "legal_status": filters.legal_status,
                        "provider": filters.provider_id,
                    },
                    "figures": figures.lines(),
                    "median_hours_to_interview": figures.median_hours_to_interview,
                    "timed": figures.counts["timed"],
                    "trend": fig.monthly_trend(filters, now=now),
                    "patterns": fig.patterns(filters, now=now),
                }
            ).data
        )


def _form_errors(form: Any) -> dict[str, list[str]]:
    return {field: [str(e) for e in errors] for field, errors in form.errors.items()}
