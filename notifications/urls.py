"""Escalation pages, Twilio webhooks and the short episode link used in texts."""

from django.urls import path

from notifications import views

app_name = "notifications"

urlpatterns = [
    path("escalations/", views.escalation_list, name="escalation_list"),
    path(
        "escalations/<int:pk>/acknowledge/",
        views.escalation_acknowledge,
        name="escalation_acknowledge",
    ),
    path("outbox/", views.outbox, name="outbox"),
    path("sms-alerts/", views.alert_list, name="alert_list"),
    path("sms-alerts/<int:pk>/resolve/", views.alert_resolve, name="alert_resolve"),
    # Configure in Twilio: the number's "A message comes in" webhook → PUBLIC_BASE_URL + this.
    path("twilio/inbound/", views.twilio_inbound, name="twilio_inbound"),
    path("twilio/status/<int:pk>/", views.twilio_status, name="twilio_status"),
    # A council on this installation acknowledges its alert on the shared episode's page
    # (before the next route, whose code would otherwise match "acknowledge").
    path(
        "council-alerts/<int:pk>/acknowledge/",
        views.council_alert_acknowledge,
        name="council_alert_acknowledge",
    ),
    # Another council acknowledges an out-of-area alert (the link in its email; no sign-in).
    path(
        "council-alerts/<int:pk>/<str:code>/",
        views.council_alert_page,
        name="council_alert",
    ),
    path(
        "episodes/<int:pk>/interview-holder/",
        views.episode_interview_holder,
        name="episode_interview_holder",
    ),
    # The link in every text: short, and only the episode number.
    path("e/<int:pk>", views.episode_short_link, name="episode_short_link"),
]
