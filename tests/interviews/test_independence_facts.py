"""The independence check reads the facts FFD and managers now record on the child (decision
0020 and 0046): each refusal is proved with the fact recorded through the real channel (the
API's PATCH /api/children/{id}/), not by writing the row directly."""

from __future__ import annotations

import pytest

from interviews.models import CaseAccessGrant, Independence, PlacementStaff
from missing.cases.errors import InvalidInput
from missing.models import Role
from tests.factories import ChildFactory, OrganisationFactory, TeamFactory, UserFactory
from tests.interviews.helpers import assign, open_interview, returned_episode
from tests.missing.test_api import client_for


@pytest.fixture
def child(db):
    return ChildFactory(looked_after=True)


@pytest.fixture
def interview(ffd, manager, child, now):
    episode = returned_episode(ffd=ffd, manager=manager, child=child, returned_at=now)
    return open_interview(manager=manager, episodes=[episode], now=now)


def record_facts(who, child, **facts):
    response = client_for(who).patch(
        f"/api/children/{child.pk}/",
        {**facts, "reason": "From the case system"},
        format="json",
    )
    assert response.status_code == 200, response.json()


def an_interviewer(**kwargs):
    charity = OrganisationFactory(name="Safe Steps Charity", kind="provider")
    return UserFactory(role=Role.INTERVIEWER, organisation=charity, **kwargs)


def refused(manager, interview, insider, now) -> str:
    with pytest.raises(InvalidInput) as refusal:
        assign(interview, manager=manager, interviewer=insider, now=now)
    interview.refresh_from_db()
    assert interview.interviewer is None
    assert not CaseAccessGrant.objects.filter(user=insider).exists()
    return refusal.value.field_errors["interviewer"][0]


def test_the_childs_recorded_social_worker_is_refused(ffd, manager, child, interview, now):
    worker = an_interviewer()
    record_facts(ffd, child, social_worker=worker.pk)
    assert "allocated social worker" in refused(manager, interview, worker, now)


def test_a_member_of_the_childs_recorded_team_is_refused(ffd, manager, child, interview, now):
    team = TeamFactory(name="Children in care team north")
    colleague = an_interviewer(team=team)
    record_facts(ffd, child, allocated_team=team.pk)
    assert "allocated team" in refused(manager, interview, colleague, now)


def test_staff_of_the_childs_recorded_placement_provider_are_refused(
    ffd, manager, child, interview, now
):
    carer = an_interviewer()
    PlacementStaff.objects.create(user=carer, placement="Oak House Children's Home")
    record_facts(ffd, child, placement="oak house children's home", placement_area="Ashford")
    assert "placement" in refused(manager, interview, carer, now)


def test_a_social_worker_recorded_by_name_does_not_block_an_independent_interviewer(
    ffd, manager, child, interview, now
):
    record_facts(ffd, child, social_worker_name="Sam Worker")
    independent = an_interviewer()
    assign(interview, manager=manager, interviewer=independent, now=now)
    interview.refresh_from_db()
    assert interview.independence == Independence.CONFIRMED


def test_a_changed_placement_frees_its_former_staff(ffd, manager, child, interview, now):
    carer = an_interviewer()
    PlacementStaff.objects.create(user=carer, placement="Elm House")
    record_facts(ffd, child, placement="Elm House")
    refused(manager, interview, carer, now)
    # The child moved (the episode was opened before any placement was recorded, so it holds
    # none): the check reads the placement recorded now, and Elm House's staff may interview.
    record_facts(manager, child, placement="Birch Lodge", version=2)
    assign(interview, manager=manager, interviewer=carer, now=now)
    interview.refresh_from_db()
    assert interview.interviewer == carer
