"""The pure half of the ingest: one received message -> rows to store, or a dead letter."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from cloud.ingest.prepare import Accepted, DeadLetter, Inbound, prepare
from cloud.ingest.store import COLUMNS
from cloud.registry import DeviceIdentity
from wire import ConfigPayload, Kind, Metric, Reading, TelemetryBatch, digest, seal
from wire.models import Payload

from ._messages import GTIN, T0, Device, dead, events, state, stock, telemetry

RECEIVED = T0 + timedelta(seconds=3)


@pytest.fixture
def device() -> Device:
    return Device()


def run(device: Device, inbound: Inbound, *, skew: float = 60.0) -> Accepted | DeadLetter:
    return prepare(
        inbound,
        lambda d: device.identity if d == device.device_id else None,
        skew_flag_seconds=skew,
    )


def accepted(device: Device, kind: Kind, seq: int, payload: Payload) -> Accepted:
    result = run(device, device.inbound(kind, seq, payload, received_at=RECEIVED))
    assert isinstance(result, Accepted), result
    return result


# --- accepted messages ------------------------------------------------------------------


def test_telemetry_becomes_reading_rows_in_column_order(device: Device) -> None:
    batch = TelemetryBatch(
        sent_at=T0,
        readings=[
            Reading(sensor="probe-1", metric=Metric.TEMPERATURE_C, ts=T0, value=14.25),
            Reading(sensor="probe-2", metric=Metric.HUMIDITY_PCT, ts=T0, value=None, fault="nan"),
        ],
    )
    result = accepted(device, Kind.TELEMETRY, 7, batch)

    assert list(result.rows) == ["readings"]
    rows = [dict(zip(COLUMNS["readings"], row, strict=True)) for row in result.rows["readings"]]
    base = {
        "received_at": RECEIVED,
        "tenant_id": "acme",
        "site_id": "wh-sh-01",
        "device_id": "gw-0001",
        "seq": 7,
    }
    assert rows == [
        {**base, "time": T0, "sensor": "probe-1", "metric": "temperature_c", "value": 14.25,
         "fault": None},
        {**base, "time": T0, "sensor": "probe-2", "metric": "humidity_pct", "value": None,
         "fault": "nan"},
    ]  # fmt: skip
    assert (result.kind, result.seq, result.item_count) == ("telemetry", 7, 2)
    assert (result.tenant, result.site, result.device_id) == ("acme", "wh-sh-01", "gw-0001")
    assert result.state is None


def test_metric_is_stored_as_plain_text(device: Device) -> None:
    result = accepted(device, Kind.TELEMETRY, 1, telemetry(1.0))
    metric = result.rows["readings"][0][COLUMNS["readings"].index("metric")]
    assert type(metric) is str


def test_digest_identifies_the_exact_bytes(device: Device) -> None:
    inbound = device.inbound(Kind.TELEMETRY, 1, telemetry(1.0))
    result = run(device, inbound)
    assert isinstance(result, Accepted)
    assert result.digest == digest(inbound.data)
    assert result.inbound is inbound


def test_stock_becomes_count_and_scan_rows(device: Device) -> None:
    result = accepted(device, Kind.STOCK, 3, stock())

    assert set(result.rows) == {"stock_counts", "scans"}
    counts = [
        dict(zip(COLUMNS["stock_counts"], r, strict=True)) for r in result.rows["stock_counts"]
    ]
    scans = [dict(zip(COLUMNS["scans"], r, strict=True)) for r in result.rows["scans"]]
    assert [(c["time"], c["gtin"], c["quantity"], c["location"], c["method"]) for c in counts] == [
        (T0, GTIN, 120, "A-01", "rfid")
    ]
    assert [(s["code"], s["direction"], s["reader"], s["gtin"]) for s in scans] == [
        ("https://id.example/01/1/21/7", "out", "dock-2", None),
        ("code-2", "in", "dock-1", GTIN),
    ]
    for row in [*counts, *scans]:
        assert (row["received_at"], row["device_id"], row["seq"]) == (RECEIVED, "gw-0001", 3)
    assert result.item_count == 3


def test_events_become_custody_inbox_rows(device: Device) -> None:
    batch = events("shipping", "receiving")
    result = accepted(device, Kind.EVENTS, 9, batch)

    assert list(result.rows) == ["custody_inbox"]
    rows = [
        dict(zip(COLUMNS["custody_inbox"], r, strict=True)) for r in result.rows["custody_inbox"]
    ]
    assert [r["event"] for r in rows] == batch.events
    assert {(r["tenant_id"], r["site_id"], r["device_id"], r["seq"]) for r in rows} == {
        ("acme", "wh-sh-01", "gw-0001", 9)
    }
    assert result.item_count == 2


def test_state_sets_state_and_no_rows(device: Device) -> None:
    message = state("online", will_seq=5)
    result = accepted(device, Kind.STATE, 4, message)
    assert result.state == message
    assert result.rows == {}
    assert (result.kind, result.item_count) == ("state", 1)
    # A state message carries no sent_at; its ts is the device clock.
    assert result.sent_at == message.ts


def test_accepts_any_registered_key_during_rotation(device: Device) -> None:
    old = Ed25519PrivateKey.generate()
    identity = DeviceIdentity(
        "gw-0001", "acme", "wh-sh-01", (old.public_key(), device.key.public_key())
    )
    result = prepare(
        device.inbound(Kind.TELEMETRY, 1, telemetry(2.0)),
        lambda _d: identity,
        skew_flag_seconds=60,
    )
    assert isinstance(result, Accepted)


# --- clock skew --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset_s", "flagged"),
    [(0, False), (59.9, False), (60, False), (60.5, True), (-60, False), (-61, True), (3600, True)],
)
def test_skew_is_flagged_only_beyond_the_limit(
    device: Device, offset_s: float, flagged: bool
) -> None:
    sent_at = T0 - timedelta(seconds=offset_s)  # positive offset: device clock behind ours
    inbound = device.inbound(Kind.TELEMETRY, 1, telemetry(1.0, sent_at=sent_at), received_at=T0)
    result = run(device, inbound, skew=60)
    assert isinstance(result, Accepted)
    assert result.sent_at == sent_at
    assert result.clock_skew_s == pytest.approx(offset_s)
    assert result.skew_flagged is flagged


def test_skewed_message_is_still_accepted_with_both_times(device: Device) -> None:
    sent_at = T0 + timedelta(days=400)  # a gateway that booted with a wild clock
    inbound = device.inbound(Kind.EVENTS, 2, events("x", sent_at=sent_at), received_at=T0)
    result = run(device, inbound)
    assert isinstance(result, Accepted)
    assert result.skew_flagged
    assert result.rows["custody_inbox"][0][0] == T0  # received_at kept next to the device time


# --- dead letters ------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"not an envelope", b"CT" + b"\x00" * 200])
def test_malformed_bytes(device: Device, data: bytes) -> None:
    inbound = Inbound(str(device.topic(Kind.TELEMETRY)), data, RECEIVED)
    letter = dead(run(device, inbound))
    assert letter.reason == "malformed"
    assert letter.inbound is inbound
    assert (letter.device_id, letter.seq) == (None, None)
    assert letter.detail


def test_unknown_device(device: Device) -> None:
    inbound = device.inbound(Kind.TELEMETRY, 5, telemetry(1.0))
    letter = dead(prepare(inbound, lambda _d: None, skew_flag_seconds=60))
    assert letter.reason == "unknown_device"
    assert (letter.device_id, letter.seq) == ("gw-0001", 5)


def test_device_without_usable_keys_is_unknown(device: Device) -> None:
    identity = DeviceIdentity("gw-0001", "acme", "wh-sh-01", ())
    letter = dead(
        prepare(device.inbound(Kind.TELEMETRY, 5, telemetry(1.0)), lambda _d: identity,
                skew_flag_seconds=60)
    )  # fmt: skip
    assert letter.reason == "unknown_device"


def test_bad_signature(device: Device) -> None:
    impostor = Device(key=Ed25519PrivateKey.generate())
    letter = dead(run(device, impostor.inbound(Kind.TELEMETRY, 5, telemetry(1.0))))
    assert letter.reason == "bad_signature"
    assert (letter.device_id, letter.seq) == ("gw-0001", 5)


def test_tampered_payload_is_a_bad_signature(device: Device) -> None:
    inbound = device.inbound(Kind.TELEMETRY, 5, telemetry(1.0))
    tampered = inbound.data.replace(b"1.0", b"9.0")
    assert tampered != inbound.data
    letter = dead(run(device, Inbound(inbound.topic, tampered, RECEIVED)))
    assert letter.reason == "bad_signature"


def test_message_moved_to_another_kind_is_a_bad_signature(device: Device) -> None:
    inbound = device.inbound(Kind.TELEMETRY, 5, telemetry(1.0))
    moved = Inbound(str(device.topic(Kind.STOCK)), inbound.data, RECEIVED)
    assert dead(run(device, moved)).reason == "bad_signature"


def test_device_registered_at_another_site_is_a_bad_topic(device: Device) -> None:
    # Correctly signed for the topic it was published on, but the registry puts the
    # device elsewhere: it must not write into another site's (or tenant's) data.
    for tenant, site in (("acme", "wh-other"), ("globex", "wh-sh-01")):
        elsewhere = Device(device.device_id, tenant, site, device.key)
        letter = dead(run(device, elsewhere.inbound(Kind.TELEMETRY, 5, telemetry(1.0))))
        assert letter.reason == "bad_topic"
        assert "acme/wh-sh-01" in letter.detail
        assert letter.device_id == "gw-0001"


def test_topic_naming_another_device_is_a_bad_topic(device: Device) -> None:
    inbound = device.inbound(Kind.TELEMETRY, 5, telemetry(1.0))
    other_topic = inbound.topic.replace("gw-0001", "gw-0002")
    letter = dead(run(device, Inbound(other_topic, inbound.data, RECEIVED)))
    assert letter.reason == "bad_topic"


def test_unparseable_topic_is_a_bad_topic(device: Device) -> None:
    inbound = device.inbound(Kind.TELEMETRY, 5, telemetry(1.0))
    for topic in ("ct/v1/acme/wh-sh-01/gw-0001", "ct/v1/acme/+/gw-0001/telemetry", "x"):
        assert dead(run(device, Inbound(topic, inbound.data, RECEIVED))).reason == "bad_topic"


def test_config_published_by_a_device_is_a_bad_topic(device: Device) -> None:
    letter = dead(run(device, device.inbound(Kind.CONFIG, 5, ConfigPayload(revision=1))))
    assert letter.reason == "bad_topic"
    assert (letter.device_id, letter.seq) == ("gw-0001", 5)


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"{not json",
        b'{"v":1,"type":"telemetry","sent_at":"2026-11-22T08:30:00Z","readings":[]}',
        b'{"v":2,"type":"telemetry","sent_at":"2026-11-22T08:30:00Z","readings":[]}',
        b'{"v":1,"type":"stock","sent_at":"2026-11-22T08:30:00Z"}',
        b'{"v":1,"type":"telemetry","sent_at":"2026-11-22T08:30:00","readings":'
        b'[{"sensor":"p","metric":"temperature_c","ts":"2026-11-22T08:30:00Z","value":1}]}',
    ],
)
def test_schema_invalid_signed_payload_is_malformed(device: Device, payload: bytes) -> None:
    topic = device.topic(Kind.TELEMETRY)
    inbound = Inbound(str(topic), seal(topic, 8, payload, device.key), RECEIVED)
    letter = dead(run(device, inbound))
    assert letter.reason == "malformed"
    assert (letter.device_id, letter.seq) == ("gw-0001", 8)


def test_dead_letter_keeps_the_exact_bytes(device: Device) -> None:
    impostor = Device(key=Ed25519PrivateKey.generate())
    inbound = impostor.inbound(Kind.TELEMETRY, 5, telemetry(1.0))
    letter = dead(run(device, inbound))
    assert letter.inbound.data == inbound.data
    assert letter.inbound.topic == inbound.topic


# --- never raises --------------------------------------------------------------------------

_FIXED_KEY = Ed25519PrivateKey.generate()
_KEYS = st.sampled_from(["v", "type", "sent_at", "readings", "status", "ts"]) | st.text(max_size=5)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)
_TOPICS = st.one_of(
    st.text(max_size=80),
    st.builds(
        "ct/v1/{}/{}/{}/{}".format,
        st.sampled_from(["acme", "globex", "", "+"]),
        st.sampled_from(["wh-sh-01", "#", "x"]),
        st.sampled_from(["gw-0001", "gw-0002", "$SYS"]),
        st.sampled_from([*Kind, "nope"]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(topic=_TOPICS, data=st.binary(max_size=300))
def test_prepare_never_raises_for_arbitrary_bytes(topic: str, data: bytes) -> None:
    device = Device(key=_FIXED_KEY)
    result = run(device, Inbound(topic, data, RECEIVED))
    assert isinstance(result, DeadLetter)  # random bytes never carry a valid signature
    assert result.inbound.data == data


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(list(Kind)),
    seq=st.integers(1, 2**63 - 1),
    payload=st.one_of(
        st.binary(max_size=200),
        _JSON.map(lambda doc: json.dumps(doc).encode()),
    ),
    lookup=st.sampled_from(["known", "unknown", "elsewhere"]),
)
def test_prepare_never_raises_for_signed_garbage(
    kind: Kind, seq: int, payload: bytes, lookup: str
) -> None:
    # Signed by the registered key, so the payload parser really sees these bytes.
    device = Device(key=_FIXED_KEY)
    identities = {
        "known": device.identity,
        "unknown": None,
        "elsewhere": DeviceIdentity("gw-0001", "acme", "other", (_FIXED_KEY.public_key(),)),
    }
    topic = device.topic(kind)
    inbound = Inbound(str(topic), seal(topic, seq, payload, _FIXED_KEY), RECEIVED)
    result = prepare(inbound, lambda _d: identities[lookup], skew_flag_seconds=60)
    if isinstance(result, DeadLetter):
        assert result.reason in {"malformed", "unknown_device", "bad_topic"}
        assert result.seq == seq
    else:
        assert lookup == "known"
        assert kind is not Kind.CONFIG
