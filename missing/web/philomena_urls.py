"""Philomena profile and Part 1: web pages and API (included from config.urls). Numeric ids
only: a child's name never appears in a URL."""

from django.urls import path

from missing.api import philomena as philomena_api
from missing.web import philomena_views

urlpatterns = [
    path("children/<int:pk>/philomena/", philomena_views.philomena_detail, name="philomena_detail"),
    path(
        "children/<int:pk>/philomena/edit/", philomena_views.philomena_edit, name="philomena_edit"
    ),
    path(
        "children/<int:pk>/philomena/photo/",
        philomena_views.philomena_photo,
        name="philomena_photo",
    ),
    path(
        "children/<int:pk>/philomena/part-1/",
        philomena_views.philomena_child_part1,
        name="philomena_child_part1",
    ),
    path(
        "children/<int:pk>/philomena/part-1/download/",
        philomena_views.philomena_child_part1_download,
        name="philomena_child_part1_download",
    ),
    path(
        "episodes/<int:pk>/philomena-part-1/",
        philomena_views.philomena_part1,
        name="philomena_part1",
    ),
    path(
        "episodes/<int:pk>/philomena-part-1/download/",
        philomena_views.philomena_part1_download,
        name="philomena_part1_download",
    ),
    path(
        "api/children/<int:pk>/philomena/",
        philomena_api.PhilomenaApi.as_view(),
        name="api-child-philomena",
    ),
    path(
        "api/children/<int:pk>/philomena/photo/",
        philomena_api.PhilomenaPhotoApi.as_view(),
        name="api-child-philomena-photo",
    ),
]
