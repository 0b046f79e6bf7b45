-- Foundation schema: who owns what, which devices may speak, what they said.
-- Designed for what comes next (distributors and regions, products, stock, ledger),
-- which later migrations add; names here are stable API for those.

CREATE TABLE tenants (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sites (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    id          text NOT NULL,
    name        text NOT NULL,
    region      text,
    latitude    double precision CHECK (latitude BETWEEN -90 AND 90),
    longitude   double precision CHECK (longitude BETWEEN -180 AND 180),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- Device ids are global: an envelope names its device, and the key proves it.
CREATE TABLE devices (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL,
    site_id       text NOT NULL,
    status        text NOT NULL DEFAULT 'registered'
                  CHECK (status IN ('registered', 'online', 'offline', 'retired')),
    last_seen_at  timestamptz,
    last_state    jsonb,
    -- Session tracking from state messages (see docs/protocol.md, "State"):
    -- will_seq is the last will announced by the newest birth; state_seq orders heartbeats.
    will_seq      bigint,
    state_seq     bigint,
    created_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);

-- Several keys per device so that a key can be rotated without a gap.
CREATE TABLE device_keys (
    device_id   text NOT NULL REFERENCES devices (id),
    public_key  text NOT NULL CHECK (public_key LIKE 'ed25519:%'),
    added_at    timestamptz NOT NULL DEFAULT now(),
    retired_at  timestamptz,
    PRIMARY KEY (device_id, public_key)
);

-- Environment readings. "time" is the device clock; received_at is ours.
CREATE TABLE readings (
    time         timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    tenant_id    text NOT NULL,
    site_id      text NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    sensor       text NOT NULL,
    metric       text NOT NULL,
    value        double precision,
    fault        text
);
CREATE INDEX readings_device_time ON readings (device_id, time DESC);
CREATE INDEX readings_site_metric_time ON readings (tenant_id, site_id, metric, time DESC);

-- Counted or sensed stock, and dock/shelf scans.
CREATE TABLE stock_counts (
    time         timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    tenant_id    text NOT NULL,
    site_id      text NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    gtin         text NOT NULL,
    quantity     integer NOT NULL CHECK (quantity >= 0),
    location     text,
    method       text NOT NULL
);
CREATE INDEX stock_counts_site_gtin_time ON stock_counts (tenant_id, site_id, gtin, time DESC);

CREATE TABLE scans (
    time         timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    tenant_id    text NOT NULL,
    site_id      text NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    code         text NOT NULL,
    direction    text NOT NULL CHECK (direction IN ('in', 'out')),
    reader       text NOT NULL,
    gtin         text
);
CREATE INDEX scans_site_time ON scans (tenant_id, site_id, time DESC);

-- Custody events as received, waiting for validation and the ledger.
CREATE TABLE custody_inbox (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    tenant_id    text NOT NULL,
    site_id      text NOT NULL,
    device_id    text NOT NULL,
    seq          bigint NOT NULL,
    event        jsonb NOT NULL
);

-- One row per accepted message: the exactly-once key, and the basis for completeness.
CREATE TABLE ingest_log (
    device_id        text NOT NULL,
    seq              bigint NOT NULL,
    kind             text NOT NULL,
    digest           bytea NOT NULL,
    received_at      timestamptz NOT NULL,
    device_sent_at   timestamptz,
    clock_skew_s     double precision,
    skew_flagged     boolean NOT NULL DEFAULT false,
    item_count       integer NOT NULL,
    duplicates       integer NOT NULL DEFAULT 0,
    last_duplicate_at timestamptz,
    PRIMARY KEY (device_id, seq)
);
CREATE INDEX ingest_log_received ON ingest_log (received_at);

-- Nothing is dropped silently: every refused message lands here with its raw bytes.
CREATE TABLE dead_letters (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL,
    topic        text NOT NULL,
    reason       text NOT NULL,
    detail       text NOT NULL,
    device_id    text,
    seq          bigint,
    payload      bytea NOT NULL
);
CREATE INDEX dead_letters_received ON dead_letters (received_at);
CREATE INDEX dead_letters_reason ON dead_letters (reason, received_at);
