"""Return-interview pages. Numeric ids only: a child's name never appears in a URL."""

from django.urls import path

from interviews import figures_views, views
from interviews.returns import views as returns_views

app_name = "interviews"

urlpatterns = [
    path("interviews/", views.queue, name="queue"),
    path("interviews/all/", views.interview_list, name="list"),
    path("interviews/export.csv", views.export_csv, name="export"),
    path("interviews/new/<int:pk>/", views.create, name="create"),
    path("interviews/<int:pk>/", views.detail, name="detail"),
    path("interviews/<int:pk>/assign/", views.assign, name="assign"),
    path("interviews/<int:pk>/attempts/new/", views.attempt, name="attempt"),
    path("interviews/<int:pk>/episodes/add/", views.add_episode, name="add_episode"),
    path("interviews/<int:pk>/record/", views.record, name="record"),
    path("interviews/<int:pk>/record/autosave/", views.record_autosave, name="record_autosave"),
    path("interviews/<int:pk>/complete/", views.complete, name="complete"),
    path("interviews/<int:pk>/sign-off/", views.sign_off, name="sign_off"),
    # The tablet's offline support: its drafts' key, the offline page, the offline copy of the
    # record form and the service worker.
    path("interviews/draft-key/", views.draft_key, name="draft_key"),
    path("interviews/offline/", views.offline, name="offline"),
    path("interviews/record/offline/", views.record_offline, name="record_offline"),
    path("interviews/sw.js", views.service_worker, name="service_worker"),
    # The national returns (SSDA903 Missing table, Annex A List 8), for managers.
    path("returns/", returns_views.returns_page, name="returns"),
    path("returns/ssda903-missing.csv", returns_views.ssda903_download, name="returns_ssda903"),
    path("returns/annex-a-list-8.csv", returns_views.annex_a_download, name="returns_annex_a"),
    # The figures (managers and heads of service): filters in the query string, ids and codes.
    path("figures/", figures_views.figures_page, name="figures"),
    path("figures/episodes/", figures_views.figure_episodes_page, name="figure_episodes"),
    path("figures/download.csv", figures_views.figures_csv, name="figures_csv"),
    path("figures/download.xlsx", figures_views.figures_xlsx, name="figures_xlsx"),
]
