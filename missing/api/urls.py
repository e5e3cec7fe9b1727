"""/api/: ids in URLs, never names. The schema and its interactive docs are public: they describe
the API and hold no case data."""

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.db import transaction
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from missing.api import views as api

urlpatterns = [
    path("notifications/", api.NotificationListCreateApi.as_view(), name="api-notifications"),
    path(
        "notifications/<int:pk>/",
        api.NotificationDetailApi.as_view(),
        name="api-notification-detail",
    ),
    path(
        "notifications/<int:pk>/candidates/",
        api.NotificationCandidatesApi.as_view(),
        name="api-notification-candidates",
    ),
    path(
        "notifications/<int:pk>/resolve-match/",
        api.NotificationResolveMatchApi.as_view(),
        name="api-notification-resolve-match",
    ),
    path(
        "notifications/<int:pk>/review/",
        api.NotificationReviewApi.as_view(),
        name="api-notification-review",
    ),
    path("children/", api.ChildListApi.as_view(), name="api-children"),
    path("children/search/", api.ChildSearchApi.as_view(), name="api-children-search"),
    path("children/<int:pk>/", api.ChildDetailApi.as_view(), name="api-child-detail"),
    path("children/<int:pk>/merge/", api.ChildMergeApi.as_view(), name="api-child-merge"),
    path(
        "children/<int:pk>/legal-status/",
        api.ChildLegalStatusApi.as_view(),
        name="api-child-legal-status",
    ),
    path(
        "children/<int:pk>/legal-status/<int:period_id>/",
        api.ChildLegalStatusDetailApi.as_view(),
        name="api-child-legal-status-detail",
    ),
    path("episodes/", api.EpisodeListApi.as_view(), name="api-episodes"),
    path("episodes/<int:pk>/", api.EpisodeDetailApi.as_view(), name="api-episode-detail"),
    path(
        "episodes/<int:pk>/decisions/",
        api.EpisodeDecisionsApi.as_view(),
        name="api-episode-decisions",
    ),
    path("episodes/<int:pk>/return/", api.EpisodeReturnApi.as_view(), name="api-episode-return"),
    path("episodes/<int:pk>/cancel/", api.EpisodeCancelApi.as_view(), name="api-episode-cancel"),
    path(
        "episodes/<int:pk>/sign-off/",
        api.EpisodeSignOffApi.as_view(),
        name="api-episode-sign-off",
    ),
    path("episodes/<int:pk>/flags/", api.EpisodeFlagsApi.as_view(), name="api-episode-flags"),
    path("episodes/<int:pk>/events/", api.EpisodeEventsApi.as_view(), name="api-episode-events"),
    path("board/", api.BoardApi.as_view(), name="api-board"),
    path("risk-meetings/", api.RiskMeetingListApi.as_view(), name="api-risk-meetings"),
    path(
        "risk-meetings/<int:pk>/complete/",
        api.RiskMeetingCompleteApi.as_view(),
        name="api-risk-meeting-complete",
    ),
    path("risk-grades/", api.RiskGradeListApi.as_view(), name="api-risk-grades"),
    path("police-forces/", api.PoliceForceListApi.as_view(), name="api-police-forces"),
    # The schema describes the API and reads no records: no request transaction for it.
    path(
        "schema/",
        transaction.non_atomic_requests(SpectacularAPIView.as_view(permission_classes=[AllowAny])),
        name="schema",
    ),
    path(
        "docs/",
        # The split view serves its settings script as a file (no inline script under the
        # CSP); Swagger UI styles its widgets inline, so this page alone allows inline styles.
        csp_update({"style-src": [SELF, UNSAFE_INLINE]})(
            SpectacularSwaggerSplitView.as_view(url_name="schema", permission_classes=[AllowAny])
        ),
        name="swagger-ui",
    ),
]
