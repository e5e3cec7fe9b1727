"""The blocks this app adds to the core's episode and child pages (settings.EPISODE_DETAIL_PANELS
and CHILD_DETAIL_PANELS), so that the core never imports this app:

{% load interview_panels %}{% episode_interview episode %}  /  {% child_interviews child %}
"""

from __future__ import annotations

from typing import Any

from django import template
from django.urls import reverse

from interviews import selectors, services
from interviews.models import ReturnInterview
from missing.cases import transitions
from missing.models import INTERVIEW_PENDING_STATES, Child, EpisodeState, MissingEpisode

register = template.Library()


@register.inclusion_tag("interviews/_episode_interview.html", takes_context=True)
def episode_interview(context: dict[str, Any], episode: MissingEpisode) -> dict[str, Any]:
    """The interview covering the episode, its answers, and what the user may do (one query)."""
    user = context["request"].user
    link = selectors.episode_interview_link(episode.pk)
    return {
        "episode": episode,
        "link": link,
        "interview": link.interview if link else None,
        "may_arrange": link is None
        and episode.state in INTERVIEW_PENDING_STATES
        and services.may_arrange(user),
        "may_sign_off": transitions.role_may(ReturnInterview().sign_off, user),
    }


@register.inclusion_tag("interviews/_episode_sign_off_step.html", takes_context=True)
def episode_sign_off_step(context: dict[str, Any], episode: MissingEpisode) -> dict[str, Any]:
    """An episode awaiting sign-off whose outcome an interview holds: the interview's sign-off
    as the next step, for those whose role may sign it off (issue 13: it was a small link far
    down the page). No query: the episode names its interview; the sign-off page checks all
    again."""
    reference = episode.interview_reference
    if episode.state != EpisodeState.AWAITING_SIGN_OFF or not reference:
        return {"interview_reference": ""}
    interview_id = reference.removeprefix("I-")
    may_sign_off = interview_id.isdigit() and transitions.role_may(
        ReturnInterview().sign_off, context["request"].user
    )
    return {
        "interview_reference": reference,
        "sign_off_url": reverse("interviews:sign_off", args=[int(interview_id)])
        if may_sign_off
        else "",
    }


@register.inclusion_tag("interviews/_child_history.html", takes_context=True)
def child_interviews(context: dict[str, Any], child: Child) -> dict[str, Any]:
    """Every episode and interview of the child in time order, and the pattern of push and
    pull factors and harms across them (three queries)."""
    history = selectors.child_history(context["request"].user, child.pk)
    return {"child": child, "history": history}
