"""The swarm's pure parts: which agents a mass drop takes, and what each agent signs."""

from __future__ import annotations

import resource

import pytest

from firmware_sim.tools.loadgen import LoadDevice, LoadError
from firmware_sim.tools.swarm import SwarmAgent, pick_drop, raise_fd_limit, state_message
from wire import StateMessage, open_message


def test_pick_drop_is_reproducible_sorted_and_distinct() -> None:
    chosen = pick_drop(10_000, 1_000, seed=3)
    assert chosen == pick_drop(10_000, 1_000, seed=3)
    assert chosen == sorted(set(chosen))
    assert len(chosen) == 1_000
    assert all(0 <= i < 10_000 for i in chosen)
    assert pick_drop(10_000, 1_000, seed=4) != chosen


@pytest.mark.parametrize(("total", "count"), [(10, 11), (10, -1)])
def test_pick_drop_refuses_impossible_counts(total: int, count: int) -> None:
    with pytest.raises(ValueError, match="cannot drop"):
        pick_drop(total, count)


def test_agent_seals_will_birth_and_heartbeat_in_seq_order() -> None:
    agent = SwarmAgent(LoadDevice("gw-0001", "acme", "wh-0001"))
    public = agent.device.key.public_key()
    will_seq, will = agent.seal_state(state_message("offline", reason="connection lost"))
    birth_seq, birth = agent.seal_state(state_message("online", will_seq=will_seq))
    beat_seq, beat = agent.seal_state(state_message("heartbeat"))
    assert will_seq < birth_seq < beat_seq
    topic = str(agent.state_topic)
    assert topic == "ct/v1/acme/wh-0001/gw-0001/state"
    opened = [open_message(topic, data, lambda _device: [public]) for data in (will, birth, beat)]
    payloads = [o.payload for o in opened]
    assert all(isinstance(p, StateMessage) for p in payloads)
    assert [p.status for p in payloads if isinstance(p, StateMessage)] == [
        "offline",
        "online",
        "heartbeat",
    ]
    assert [o.envelope.seq for o in opened] == [will_seq, birth_seq, beat_seq]
    birth_payload = payloads[1]
    assert isinstance(birth_payload, StateMessage)
    assert birth_payload.will_seq == will_seq


def test_fd_limit_is_raised_within_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert raise_fd_limit(10) >= 10
    if hard != resource.RLIM_INFINITY:
        with pytest.raises(LoadError, match="hard limit"):
            raise_fd_limit(hard + 1)
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[1] == hard
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] >= soft
