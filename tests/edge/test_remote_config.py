"""Remote config on the device: verified, ordered, persisted, refused with reasons."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.device_config import build_config, seal_config
from edge.remote_config import RemoteConfig, Settings
from wire import Kind, Metric, Topic, generate_private_key, seal

TOPIC = Topic("acme", "wh-1", "gw-1", Kind.CONFIG)
BASE = Settings(sample_interval_s=1.0, batch_max_readings=500, flush_interval_s=0.2)


@pytest.fixture
def cloud_key() -> Ed25519PrivateKey:
    return generate_private_key()


def config(
    key: Ed25519PrivateKey, revision: int, topic: Topic = TOPIC, **settings: object
) -> bytes:
    return seal_config(topic, build_config({"sample_interval_s": 2.0, **settings}, revision), key)


def remote(tmp_path: Path, key: Ed25519PrivateKey | None) -> RemoteConfig:
    return RemoteConfig(TOPIC, key.public_key() if key else None, BASE, tmp_path / "rc.json")


def test_valid_config_applies_and_survives_a_restart(
    tmp_path: Path, cloud_key: Ed25519PrivateKey
) -> None:
    rc = remote(tmp_path, cloud_key)
    data = config(cloud_key, 3, thresholds={"temperature_c": {"min": 2, "max": 6}})
    outcome = rc.handle(data)
    assert outcome is not None
    assert outcome.changed
    assert outcome.status.model_dump(exclude_none=True) == {
        "revision": 3,
        "applied": True,
        "active": 3,
    }
    assert rc.settings.sample_interval_s == 2.0
    assert rc.settings.thresholds[Metric.TEMPERATURE_C].max == 6.0
    assert rc.handle(data) is None  # the retained message again after a reconnect

    again = remote(tmp_path, cloud_key)
    assert again.settings == rc.settings
    assert again.status.active == 3


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda k, o: config(o, 1), "does not verify"),
        (lambda k, o: config(k, 1, topic=Topic("acme", "wh-1", "gw-2", Kind.CONFIG)), "device"),
        (
            lambda k, o: seal(
                TOPIC, 1, b'{"v":1,"type":"config","revision":1,"sample_interval_s":0}', k
            ),
            "sample_interval_s",
        ),
        (
            lambda k, o: seal(TOPIC, 9, b'{"v":1,"type":"config","revision":1}', k),
            "must equal the config revision",
        ),
        (lambda k, o: b"junk", "envelope"),
    ],
)
def test_bad_configs_are_refused_with_a_reason_and_old_settings_kept(
    tmp_path: Path, cloud_key: Ed25519PrivateKey, make: object, reason: str
) -> None:
    rc = remote(tmp_path, cloud_key)
    assert callable(make)
    outcome = rc.handle(make(cloud_key, generate_private_key()))
    assert outcome is not None
    assert not outcome.status.applied
    assert outcome.status.reason is not None
    assert reason in outcome.status.reason
    assert rc.settings == BASE
    assert not (tmp_path / "rc.json").exists()


def test_older_or_rewritten_revisions_are_replays(
    tmp_path: Path, cloud_key: Ed25519PrivateKey
) -> None:
    rc = remote(tmp_path, cloud_key)
    assert rc.handle(config(cloud_key, 5)) is not None
    older = rc.handle(config(cloud_key, 4))
    assert older is not None
    assert older.status.reason is not None
    assert "older than revision 5" in older.status.reason
    rewritten = rc.handle(config(cloud_key, 5, batch_max_readings=7))
    assert rewritten is not None
    assert rewritten.status.reason is not None
    assert "differs from revision 5" in rewritten.status.reason
    assert rc.settings.revision == 5
    assert rc.settings.batch_max_readings == 500


def test_without_a_cloud_key_every_config_is_refused(
    tmp_path: Path, cloud_key: Ed25519PrivateKey
) -> None:
    rc = remote(tmp_path, None)
    outcome = rc.handle(config(cloud_key, 1))
    assert outcome is not None
    assert outcome.status.revision == 1
    assert outcome.status.reason is not None
    assert "config_public_key" in outcome.status.reason
    assert rc.settings == BASE


def test_a_stored_config_from_another_key_is_not_trusted(
    tmp_path: Path, cloud_key: Ed25519PrivateKey
) -> None:
    assert remote(tmp_path, cloud_key).handle(config(cloud_key, 2)) is not None
    rotated = remote(tmp_path, generate_private_key())
    assert rotated.settings == BASE
