"""The interviews app's part of merging two child records (settings.CHILD_MERGERS): the removed
child's return interviews move to the kept child, with their episode links, and stay usable."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.db import connection
from rest_framework.test import APIClient

from interviews import services
from interviews.models import InterviewEpisode, ReturnInterview, ReturnInterviewHistory
from missing.audit import retention
from missing.cases import services as core
from missing.cases.errors import Conflict
from missing.cases.merge import MergeData, child_merge
from missing.models import Child, ChildMerge
from tests.factories import ChildFactory
from tests.helpers import login
from tests.interviews.helpers import assign, open_interview, returned_episode

pytestmark = pytest.mark.django_db


@pytest.fixture
def merged_away(ffd, manager, interviewer, now):
    """The council's record (council child id) holds an interview assigned to our interviewer;
    a police-created record of the same child (no id, no date of birth) is the one kept."""
    council = ChildFactory(first_name="Jaden", last_name="Smith")
    episode = returned_episode(
        ffd=ffd, manager=manager, child=council, returned_at=now - timedelta(days=2)
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now - timedelta(days=2))
    interview = assign(
        interview, manager=manager, interviewer=interviewer, now=now - timedelta(days=2)
    )
    police = ChildFactory(
        first_name="Jayden", last_name="Smyth", council_child_id=None, date_of_birth=None
    )
    return {"keep": police, "remove": council, "episode": episode, "interview": interview}


def test_the_interview_moves_with_its_episode(merged_away, ffd, interviewer, now):
    keep, remove = merged_away["keep"], merged_away["remove"]
    interview = merged_away["interview"]

    record = child_merge(
        MergeData(remove_id=remove.pk, reason="Same child"), actor=ffd, keep_id=keep.pk, now=now
    )

    interview.refresh_from_db()
    assert interview.child_id == keep.pk
    assert InterviewEpisode.objects.get(interview=interview).episode_id == (
        merged_away["episode"].pk
    )
    assert record.moved["return interviews"] == [interview.reference]
    assert record.counts["return interviews"] == 1
    # The interviewer keeps their assignment, now under the kept child.
    assert list(ReturnInterview.objects.visible_to(interviewer)) == [interview]
    assert list(Child.objects.visible_to(interviewer)) == [keep]
    keep.refresh_from_db()
    assert keep.council_child_id == remove.council_child_id
    assert keep.date_of_birth == date(2011, 3, 14)


def test_a_form_opened_before_the_merge_is_stale(merged_away, ffd, manager, now):
    interview = merged_away["interview"]
    version = interview.version
    child_merge(
        MergeData(remove_id=merged_away["remove"].pk, reason="Same child"),
        actor=ffd,
        keep_id=merged_away["keep"].pk,
        now=now,
    )

    with pytest.raises(Conflict, match="changed by someone else"):
        services.interview_assign(
            services.AssignData(
                interviewer_id=interview.interviewer_id,
                exception_reason="",
                planned_at=None,
                planned_place="",
            ),
            actor=manager,
            interview_id=interview.pk,
            now=now,
            expected_version=version,
        )


def test_retention_erases_the_moved_interview_with_the_kept_child(merged_away, ffd, manager, now):
    keep = merged_away["keep"]
    child_merge(
        MergeData(remove_id=merged_away["remove"].pk, reason="Same"),
        actor=ffd,
        keep_id=keep.pk,
        now=now,
    )
    core.episode_cancel(
        core.CancelData(reason="Test"), actor=manager, episode_id=merged_away["episode"].pk, now=now
    )

    erased = retention.erase_child(child_id=keep.pk, now=now, reason="test")

    assert erased is not None
    assert erased.counts["return interviews"] == 1
    assert not ReturnInterview.objects.exists()
    assert not ChildMerge.objects.exists()


@pytest.mark.postgres
@pytest.mark.skipif(connection.vendor != "postgresql", reason="pghistory triggers: PostgreSQL")
def test_the_interview_history_names_the_merging_user(merged_away, manager):
    keep, remove = merged_away["keep"], merged_away["remove"]
    client = APIClient()
    login(client, manager)

    response = client.post(
        f"/api/children/{keep.pk}/merge/", {"remove": remove.pk, "reason": "Same"}, format="json"
    )

    assert response.status_code == 200, response.json()
    update = ReturnInterviewHistory.objects.filter(pgh_obj_id=merged_away["interview"].pk).latest(
        "pgh_id"
    )
    assert update.child_id == keep.pk
    assert update.pgh_context.metadata == {"user": manager.pk, "route": "api-child-merge"}
