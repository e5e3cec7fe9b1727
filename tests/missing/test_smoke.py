from missing.models import EpisodeState
from tests.helpers import episode_in_state


def test_episode_reaches_every_state(ffd, manager, now):
    for state in EpisodeState.values:
        episode = episode_in_state(state, ffd=ffd, manager=manager, now=now)
        assert episode.state == state
