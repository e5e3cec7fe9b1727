"""/api/: ids in URLs, never names. The schema and its interactive docs are public: they describe
the API and hold no case data."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny

from missing import api

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
    path("children/", api.ChildListApi.as_view(), name="api-children"),
    path("children/search/", api.ChildSearchApi.as_view(), name="api-children-search"),
    path("children/<int:pk>/", api.ChildDetailApi.as_view(), name="api-child-detail"),
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
    path("episodes/<int:pk>/events/", api.EpisodeEventsApi.as_view(), name="api-episode-events"),
    path("board/", api.BoardApi.as_view(), name="api-board"),
    path("risk-grades/", api.RiskGradeListApi.as_view(), name="api-risk-grades"),
    path("police-forces/", api.PoliceForceListApi.as_view(), name="api-police-forces"),
    path("schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="schema"),
    path(
        "docs/",
        SpectacularSwaggerView.as_view(url_name="schema", permission_classes=[AllowAny]),
        name="swagger-ui",
    ),
]
