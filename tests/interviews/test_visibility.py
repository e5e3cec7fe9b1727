"""Interviewers see only the children assigned to them, and an interviewer of another
organisation sees nothing of these children: not in lists, details, searches, the API or
exports. Every answer is checked for the child's name, whatever its status code."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import ChildFactory, UserFactory
from tests.helpers import login
from tests.interviews.helpers import assign, open_interview, returned_episode

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(ffd, manager, interviewer, now):
    ours = ChildFactory(first_name="Quinta", last_name="Zephyrine")
    episode = returned_episode(
        ffd=ffd, manager=manager, child=ours, returned_at=now - timedelta(hours=3)
    )
    interview = open_interview(manager=manager, episodes=[episode], now=now)
    assign(interview, manager=manager, interviewer=interviewer, now=now)
    # A colleague in the same charity, assigned another child: ours must not see that one.
    colleague = UserFactory(
        username="colleague", role="interviewer", organisation=interviewer.organisation
    )
    theirs = ChildFactory(first_name="Xavi", last_name="Oberwald")
    other_episode = returned_episode(
        ffd=ffd, manager=manager, child=theirs, returned_at=now - timedelta(hours=2)
    )
    other_interview = open_interview(manager=manager, episodes=[other_episode], now=now)
    assign(other_interview, manager=manager, interviewer=colleague, now=now)
    return {
        "child": ours,
        "episode": episode,
        "interview": interview,
        "other_child": theirs,
        "other_interview": other_interview,
    }


def _body(response) -> str:
    raw = b"".join(response.streaming_content) if response.streaming else response.content
    return raw.decode(errors="replace")


def web_answers(client: Client, world) -> dict[str, object]:
    i, c, e = world["interview"].pk, world["child"].pk, world["episode"].pk
    return {
        "queue": client.get("/interviews/"),
        "list": client.get("/interviews/all/"),
        "export": client.get("/interviews/export.csv"),
        "detail": client.get(f"/interviews/{i}/"),
        "record": client.get(f"/interviews/{i}/record/"),
        "attempt": client.get(f"/interviews/{i}/attempts/new/"),
        "autosave": client.post(f"/interviews/{i}/record/autosave/", {"version": 1}),
        "children": client.get("/children/"),
        "search": client.post("/children/", {"q": "Zephyrine"}),
        "child": client.get(f"/children/{c}/"),
        "episode": client.get(f"/episodes/{e}/"),
        "board": client.get("/board/"),
    }


def api_answers(client: APIClient, world) -> dict[str, object]:
    i, c, e = world["interview"].pk, world["child"].pk, world["episode"].pk
    return {
        "interviews": client.get("/api/interviews/"),
        "interview": client.get(f"/api/interviews/{i}/"),
        "attempts": client.get(f"/api/interviews/{i}/attempts/"),
        "record": client.patch(f"/api/interviews/{i}/record/", {"version": 1}, format="json"),
        "figures": client.get("/api/interview-figures/"),
        "children": client.get("/api/children/"),
        "search": client.get("/api/children/", {"search": "Zephyrine"}),
        "child": client.get(f"/api/children/{c}/"),
        "episodes": client.get("/api/episodes/"),
        "episode": client.get(f"/api/episodes/{e}/"),
    }


def test_an_interviewer_of_another_organisation_sees_nothing(world, other_interviewer):
    web = Client()
    login(web, other_interviewer)
    api = APIClient()
    login(api, other_interviewer)

    answers = {
        **web_answers(web, world),
        **{f"api {k}": v for k, v in api_answers(api, world).items()},
    }

    for name, response in answers.items():
        body = _body(response)
        for hidden in ("Zephyrine", "Oberwald", "Quinta", "Xavi"):
            assert hidden not in body, (name, hidden)
    # Lists are empty; everything about one child is not there (404) or not for them (403).
    assert answers["queue"].status_code == 200
    assert "No interviews are assigned to you" in _body(answers["queue"])
    assert answers["api interviews"].json()["results"] == []
    assert answers["api children"].json()["results"] == []
    assert answers["api search"].json()["results"] == []
    assert answers["api episodes"].json()["results"] == []
    for name in (
        "detail",
        "record",
        "attempt",
        "autosave",
        "api interview",
        "api attempts",
        "api record",
        "api child",
        "api episode",
    ):
        assert answers[name].status_code == 404, name
    for name in (
        "list",
        "export",
        "children",
        "search",
        "child",
        "episode",
        "board",
        "api figures",
    ):
        assert answers[name].status_code == 403, name


def test_an_interviewer_sees_their_own_child_only(world, interviewer):
    web = Client()
    login(web, interviewer)
    api = APIClient()
    login(api, interviewer)

    queue = _body(web.get("/interviews/"))
    assert "Quinta Zephyrine" in queue
    assert "Oberwald" not in queue
    assert web.get(f"/interviews/{world['interview'].pk}/record/").status_code == 200
    assert web.get(f"/interviews/{world['other_interview'].pk}/").status_code == 404
    listed = api.get("/api/interviews/").json()["results"]
    assert [row["id"] for row in listed] == [world["interview"].pk]
    assert api.get(f"/api/interviews/{world['other_interview'].pk}/").status_code == 404
    assert [c["id"] for c in api.get("/api/children/").json()["results"]] == [world["child"].pk]
    found = api.post("/api/children/search/", {"search": "Oberwald"}, format="json")
    assert found.json()["results"] == []


def test_access_ends_on_the_next_request_after_unassignment(world, manager, interviewer, now):
    from interviews import services

    web = Client()
    login(web, interviewer)
    interview = world["interview"]
    assert web.get(f"/interviews/{interview.pk}/record/").status_code == 200
    interview.refresh_from_db()
    services.interview_unassign(
        services.UnassignData(reason="Reassigned"),
        actor=manager,
        interview_id=interview.pk,
        now=now,
        expected_version=interview.version,
    )
    assert web.get(f"/interviews/{interview.pk}/record/").status_code == 404
    assert "Zephyrine" not in _body(web.get("/interviews/"))
