"""/api/ routes of the interviews app: ids in URLs, never names."""

from django.urls import path

from interviews import api

urlpatterns = [
    path("interview-factors/", api.FactorListApi.as_view(), name="api-interview-factors"),
    path("interview-figures/", api.InterviewFiguresApi.as_view(), name="api-interview-figures"),
    path("interviews/", api.InterviewListCreateApi.as_view(), name="api-interviews"),
    path("interviews/<int:pk>/", api.InterviewDetailApi.as_view(), name="api-interview-detail"),
    path(
        "interviews/<int:pk>/attempts/",
        api.InterviewAttemptsApi.as_view(),
        name="api-interview-attempts",
    ),
    path(
        "interviews/<int:pk>/assign/", api.InterviewAssignApi.as_view(), name="api-interview-assign"
    ),
    path(
        "interviews/<int:pk>/unassign/",
        api.InterviewUnassignApi.as_view(),
        name="api-interview-unassign",
    ),
    path(
        "interviews/<int:pk>/episodes/",
        api.InterviewAddEpisodeApi.as_view(),
        name="api-interview-add-episode",
    ),
    path(
        "interviews/<int:pk>/record/", api.InterviewRecordApi.as_view(), name="api-interview-record"
    ),
    path(
        "interviews/<int:pk>/complete/",
        api.InterviewCompleteApi.as_view(),
        name="api-interview-complete",
    ),
    path(
        "interviews/<int:pk>/sign-off/",
        api.InterviewSignOffApi.as_view(),
        name="api-interview-sign-off",
    ),
]
