"""The blocks this app adds to the core's episode and child pages (settings.EPISODE_DETAIL_PANELS
and CHILD_DETAIL_PANELS), so that the core never imports this app:

{% load interview_panels %}{% episode_interview episode %}  /  {% child_interviews child %}
"""

from __future__ import annotations

from typing import Any

from django import template

from interviews import selectors, services
from missing.models import INTERVIEW_PENDING_STATES, Child, MissingEpisode

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
    }


@register.inclusion_tag("interviews/_child_history.html", takes_context=True)
def child_interviews(context: dict[str, Any], child: Child) -> dict[str, Any]:
    """Every episode and interview of the child in time order, and the pattern of push and
    pull factors and harms across them (three queries)."""
    history = selectors.child_history(context["request"].user, child.pk)
    return {"child": child, "history": history}
