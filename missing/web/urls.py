"""Web pages. Numeric ids only: a child's name never appears in a URL. (/api/ and /healthz are
wired in config.urls.)"""

from django.urls import path

from missing.accounts import approvals, session_timeout, signin, tokens
from missing.audit import misuse_views, refusals
from missing.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("sign-in/code/", signin.verify, name="second_factor_verify"),
    path("sign-in/set-up/", signin.enrol, name="second_factor_enrol"),
    path("sign-in/confirm/", signin.confirm, name="second_factor_confirm"),
    path("account/recovery-codes/", signin.recovery_codes, name="recovery_codes"),
    path("session/", session_timeout.session_status, name="session_status"),
    path("session/keep-alive/", session_timeout.session_keep_alive, name="session_keep_alive"),
    path("account/tokens/", tokens.tokens_page, name="api_tokens"),
    path("account/tokens/<int:pk>/revoke/", tokens.token_revoke, name="api_token_revoke"),
    path("board/", views.board, name="board"),
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/new/", views.notification_new, name="notification_new"),
    path("notifications/<int:pk>/match/", views.notification_match, name="notification_match"),
    path("notifications/<int:pk>/review/", views.notification_review, name="notification_review"),
    path("episodes/", views.episode_list, name="episode_list"),
    path("episodes/<int:pk>/", views.episode_detail, name="episode_detail"),
    *(
        path(
            f"episodes/<int:pk>/{action.key.replace('_', '-')}/",
            views.episode_action,
            {"action": action.key},
            name=action.url_name,
        )
        for action in views.ACTIONS.values()
    ),
    path("episodes/<int:pk>/flags/", views.episode_flags, name="episode_flags"),
    path("children/", views.child_list, name="child_list"),
    path("children/<int:pk>/", views.child_detail, name="child_detail"),
    path("children/<int:pk>/merge/", views.child_merge, name="child_merge"),
    path("children/<int:pk>/details/", views.child_facts_edit, name="child_facts_edit"),
    path("children/<int:pk>/legal-status/new/", views.legal_status_add, name="legal_status_add"),
    path(
        "children/<int:pk>/legal-status/<int:period_id>/",
        views.legal_status_change,
        name="legal_status_change",
    ),
    path(
        "children/<int:pk>/legal-status/<int:period_id>/remove/",
        views.legal_status_remove,
        name="legal_status_remove",
    ),
    path("children/<int:pk>/merge/check/", views.child_merge_check, name="child_merge_check"),
    path("meetings/", views.meetings, name="meetings"),
    path("access/refusals/", refusals.refusals_page, name="access_refusals"),
    path("access/account-changes/", approvals.account_changes_page, name="account_changes"),
    path(
        "access/account-changes/<int:pk>/",
        approvals.account_change_decide,
        name="account_change_decide",
    ),
    path(
        "account/notices/acknowledge/",
        approvals.account_notice_acknowledge,
        name="account_notice_acknowledge",
    ),
    path("access/alerts/", misuse_views.alerts_page, name="misuse_alerts"),
    path("access/alerts/<int:pk>/", misuse_views.alert_page, name="misuse_alert_detail"),
    path("meetings/<int:pk>/complete/", views.meeting_complete, name="meeting_complete"),
]
