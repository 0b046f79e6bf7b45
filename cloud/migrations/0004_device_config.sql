-- Remote configuration published to devices (docs/protocol.md, "Config").
-- One row per revision: the payload as sent and the exact signed envelope, so what a
-- device was told can be shown and re-verified later. The device's answer (applied or
-- refused, with the reason) arrives in its heartbeats, in devices.last_state->'config'.
CREATE TABLE device_configs (
    device_id     text NOT NULL REFERENCES devices (id),
    revision      bigint NOT NULL CHECK (revision >= 1),
    payload       jsonb NOT NULL,
    envelope      bytea NOT NULL,
    published_at  timestamptz NOT NULL DEFAULT now(),
    published_by  text,
    PRIMARY KEY (device_id, revision)
);

-- Local threshold alarms raised or cleared by devices (state messages with status 'alarm').
-- Kept as sent; the alert rules of the cloud read them.
CREATE TABLE device_alarms (
    device_id    text NOT NULL REFERENCES devices (id),
    seq          bigint NOT NULL,
    sensor       text NOT NULL,
    metric       text NOT NULL,
    state        text NOT NULL CHECK (state IN ('raised', 'cleared')),
    bound        text NOT NULL CHECK (bound IN ('min', 'max')),
    limit_value  double precision NOT NULL,
    value        double precision NOT NULL,
    time         timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX device_alarms_time ON device_alarms (device_id, time DESC);
