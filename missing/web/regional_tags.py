"""The label of an out-of-area episode two councils on one installation share (decision 0066)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from missing.models import Council, installation_councils, is_regional

register = template.Library()


def _council_names(request: Any) -> dict[int, str]:
    """The installation's councils by id: one query per request, however many rows a list has."""
    names = getattr(request, "_installation_council_names", None)
    if names is None:
        names = dict(
            Council.objects.filter(ons_code__in=installation_councils()).values_list("pk", "name")
        )
        if request is not None:
            request._installation_council_names = names
    return names


def shared_label_text(episode: Any, names: dict[int, str]) -> str:
    """ "Shared with <council>: placed out of area" when the episode's other council is one of
    this installation's (both councils see the episode); "" otherwise."""
    other = getattr(episode, "out_of_area_council_id", None)
    if not is_regional() or other is None or other not in names:
        return ""
    return f"Shared with {names[other]}: placed out of area"


@register.simple_tag(takes_context=True)
def shared_label(context: template.Context, episode: Any) -> str:
    request = context.get("request")
    names = _council_names(request)
    text = shared_label_text(episode, names)
    if not text:
        return ""
    owner = names.get(episode.council_id, "")
    user_council = getattr(getattr(request, "user", None), "council_id", None)
    whose = (
        format_html(' <span class="app-secondary">({}’s case)</span>', owner)
        if owner and episode.council_id != user_council
        else ""
    )
    return format_html(
        '<strong class="govuk-tag govuk-tag--purple app-shared-label">{}</strong>{}', text, whose
    )
