"""Remote configuration from the cloud: verified, checked and applied without a restart.

The cloud publishes a `ConfigPayload` retained on the device's ``config`` topic, sealed in
the usual envelope but signed with the *cloud's* config key; the envelope's device id is
the target device and its sequence number is the config revision. A config is applied only
if it verifies with the key in ``[cloud] config_public_key``, is addressed to this device,
names the same revision in envelope and payload, and is newer than the revision in effect:
an old revision, or the current one with other content, is a replay and refused. The
applied envelope is stored on disk (atomically), so after a restart the device re-verifies
and runs it again. Every outcome becomes a `ConfigStatus` that the agent reports.
"""

from __future__ import annotations

import base64
import binascii
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from edge.ed25519 import PublicKey
from edge.statefile import read_state, write_state
from wire import (
    ConfigPayload,
    ConfigStatus,
    Metric,
    Threshold,
    Topic,
    WireError,
    open_signed,
)
from wire.envelope import decode

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

__all__ = ["ConfigOutcome", "RemoteConfig", "Settings"]

_logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settings:
    """What the agent's main loop reads each iteration."""

    sample_interval_s: float
    batch_max_readings: int
    flush_interval_s: float
    thresholds: dict[Metric, Threshold] = field(default_factory=dict)
    revision: int | None = None  # None: the local file's settings


@dataclass(frozen=True, slots=True)
class ConfigOutcome:
    status: ConfigStatus
    changed: bool  # whether `RemoteConfig.settings` changed


class RemoteConfig:
    """The config state machine of one device; not thread-safe (call from the main loop)."""

    def __init__(
        self,
        topic: Topic,
        public_key: PublicKey | Ed25519PublicKey | None,
        base: Settings,
        state_path: Path,
    ) -> None:
        self._topic = topic
        self._key = None if public_key is None else PublicKey.of(public_key)
        self._base = base
        self._path = state_path
        self.settings = base
        self.status = ConfigStatus(applied=True)
        self._applied: bytes | None = None
        self._last_refused: bytes | None = None
        self._restore()

    def _restore(self) -> None:
        encoded = read_state(self._path).get("envelope")
        if not isinstance(encoded, str):
            return
        try:
            data = base64.b64decode(encoded, validate=True)
            payload = self._open(data)
        except (binascii.Error, WireError, _Refused) as exc:
            # E.g. the cloud key was rotated in the file: the stored config no longer counts.
            _logger.error("stored remote config %s not usable (%s); using local settings",
                          self._path, exc)  # fmt: skip
            return
        self._apply(payload, data, persist=False)
        _logger.info("remote config revision %d restored from %s", payload.revision, self._path)

    def handle(self, data: bytes) -> ConfigOutcome | None:
        """Process one received config message; None when there is nothing to report."""
        if not data:
            _logger.info("retained config on %s was cleared; keeping the current settings",
                         self._topic)  # fmt: skip
            return None
        if data in (self._applied, self._last_refused):
            return None  # the retained message again, after a reconnect
        revision = _claimed_revision(data)
        try:
            payload = self._open(data)
            current = self.settings.revision
            if current is not None and payload.revision <= current:
                what = "is older than" if payload.revision < current else "differs from"
                raise _Refused(
                    f"replayed or stale config: revision {payload.revision} {what} "
                    f"revision {current} in effect"
                )
        except (WireError, _Refused) as exc:
            reason = exc.message if isinstance(exc, WireError) else str(exc)
            self._last_refused = data
            self.status = ConfigStatus(
                revision=revision, applied=False, reason=reason[:200], active=self.settings.revision
            )
            _logger.warning("remote config revision %s refused: %s", revision, reason)
            return ConfigOutcome(self.status, changed=False)
        self._apply(payload, data, persist=True)
        _logger.info(
            "remote config revision %d applied: sample %.3fs, batch %d, flush %.3fs, %d thresholds",
            payload.revision, payload.sample_interval_s, payload.batch_max_readings,
            payload.flush_interval_s, len(payload.thresholds),
        )  # fmt: skip
        return ConfigOutcome(self.status, changed=True)

    def _open(self, data: bytes) -> ConfigPayload:
        if self._key is None:
            raise _Refused("no cloud config key: set [cloud] config_public_key in the agent config")
        # wire.open_message's checks, in its order and with its messages, but verified with
        # the agent's `PublicKey` so that `cryptography` is never loaded.
        opened = open_signed(self._topic, data, [self._key.verify])
        payload = opened.payload
        if not isinstance(payload, ConfigPayload):  # pragma: no cover - the topic kind fixes it
            raise _Refused(f"expected a config payload, got {payload.type}")
        if payload.revision != opened.envelope.seq:
            raise _Refused(
                f"envelope seq {opened.envelope.seq} must equal the config revision "
                f"{payload.revision}"
            )
        return payload

    def _apply(self, payload: ConfigPayload, data: bytes, *, persist: bool) -> None:
        if persist:  # on disk first: an applied revision must survive a crash right after
            write_state(self._path, {"envelope": base64.b64encode(data).decode("ascii"),
                                     "revision": payload.revision})  # fmt: skip
        self.settings = replace(
            self._base,
            sample_interval_s=payload.sample_interval_s,
            batch_max_readings=payload.batch_max_readings,
            flush_interval_s=payload.flush_interval_s,
            thresholds=dict(payload.thresholds),
            revision=payload.revision,
        )
        self._applied = data
        self.status = ConfigStatus(revision=payload.revision, applied=True, active=payload.revision)


class _Refused(Exception):
    """A well-formed config this device will not apply."""


def _claimed_revision(data: bytes) -> int | None:
    """The (not yet authenticated) revision an envelope claims, for the rejection report."""
    try:
        return decode(data).seq
    except WireError:
        return None
