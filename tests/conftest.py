from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pytest
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCacheClient

from missing.models import Role, User
from tests.factories import FIXED_NOW, OrganisationFactory, TeamFactory, UserFactory


def empty_cache() -> None:
    """Forget every count. On Redis only this run's keys (its KEY_PREFIX): `clear()` would
    empty the whole database, the Celery broker's queues with it."""
    if isinstance(cache._cache, RedisCacheClient):  # type: ignore[attr-defined]
        client = cache._cache.get_client(write=True)  # type: ignore[attr-defined]
        keys = list(client.scan_iter(match=f"{cache.key_prefix}:*", count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    """The rate limiter counts in the cache: each test starts with no requests counted."""
    empty_cache()
    yield
    empty_cache()


@pytest.fixture
def now() -> datetime:
    return FIXED_NOW


@pytest.fixture
def ffd(db) -> User:
    return UserFactory(username="ffd", role=Role.FFD, team=TeamFactory(name="Family Front Door"))


@pytest.fixture
def manager(db) -> User:
    return UserFactory(
        username="manager",
        role=Role.MANAGER,
        phone="+447700900001",
        team=TeamFactory(name="Family Front Door"),
    )


@pytest.fixture
def head_of_service(db) -> User:
    return UserFactory(username="hos", role=Role.HEAD_OF_SERVICE, phone="+447700900002")


@pytest.fixture
def interviewer(db) -> User:
    org = OrganisationFactory(name="Safe Steps Charity", kind="provider")
    return UserFactory(username="interviewer", role=Role.INTERVIEWER, organisation=org)


@pytest.fixture
def other_interviewer(db) -> User:
    """An interviewer of another organisation: must see nothing of our children."""
    org = OrganisationFactory(name="Other Provider Ltd", kind="provider")
    return UserFactory(username="other_interviewer", role=Role.INTERVIEWER, organisation=org)


@pytest.fixture
def admin_user(db) -> User:
    return UserFactory(username="admin", role=Role.ADMIN, is_staff=True, is_superuser=True)


@pytest.fixture
def police_system(db) -> User:
    from tests.factories import force

    return UserFactory(username="kent-police", role=Role.POLICE_SYSTEM, police_force=force("kent"))


@pytest.fixture
def users_by_role(
    ffd, manager, head_of_service, interviewer, other_interviewer, admin_user, police_system
) -> dict[str, User]:
    return {
        "ffd": ffd,
        "manager": manager,
        "head_of_service": head_of_service,
        "interviewer": interviewer,
        "other_interviewer": other_interviewer,
        "admin": admin_user,
        "police_system": police_system,
    }


# The generated suites: Schemathesis over every API operation and the Hypothesis workflow
# machine; and the demo year (a year of history loaded through the services). A minute or more
# each, so they run in `make test-all` and CI, not in the edit-test loop.
SLOW_MODULES = frozenset(
    {
        "tests/test_api_fuzz.py",
        "tests/test_workflow_state_machine.py",
        "tests/ssd/test_demo_history.py",
    }
)
# Tests that start another process: a browser (Chromium through Playwright) or a Celery worker.
SLOW_MARKERS = frozenset({"browser", "celery"})


def _is_slow(item: pytest.Item) -> bool:
    path = item.path.relative_to(item.config.rootpath).as_posix()
    return path in SLOW_MODULES or any(item.get_closest_marker(m) for m in SLOW_MARKERS)


# tryfirst: the `slow` marks must be on the items before `-m` selects (pytest's own hook).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the slow tests `slow`, and make every transactional test roll back serialized.

    `slow` is given here, by module and by marker, rather than written in each file, so that a
    new browser or Celery-process test is kept out of `make test` (`-m "not slow"`) without
    anyone remembering to: `make test-all` and CI run them.

    Every transactional test restores the database it found (serialized rollback).
    A transactional test ends by flushing every table, and the reference data seeded by
    migrations (risk grades, forces, the escalation ladder) would go with it. Worse, a flush
    without serialized rollback re-creates content types, which the next serialized test then
    inserts again (duplicate key). Making it the rule for all of them avoids both.
    """
    for item in items:
        if _is_slow(item):
            item.add_marker(pytest.mark.slow)
        # Under pytest-xdist (CI: -n 2 --dist loadgroup) the tests that start Celery workers
        # run in one process: their workers share one Redis queue and would take each other's
        # tasks.
        if item.get_closest_marker("celery") is not None:
            item.add_marker(pytest.mark.xdist_group("celery"))
        marker = item.get_closest_marker("django_db")
        if marker is not None and marker.kwargs.get("transaction"):
            kwargs = {**marker.kwargs, "serialized_rollback": True}
            item.add_marker(pytest.mark.django_db(*marker.args, **kwargs), append=False)
