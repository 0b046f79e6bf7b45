-- Provenance and anti-counterfeit (docs/provenance.md): brand code keys, issued trace codes,
-- custody events (each also a ledger leaf), units and their custody, consumer scans and
-- their verdicts, per-brand thresholds, and the mapping from EPCIS locations and parties
-- to our sites and distributors. Consumer scans never store an IP address: only a point
-- rounded to 0.01° (~1 km) or a region code.

-- ------------------------------------------------------------------ brands and codes

-- Public halves of brand signing keys (private keys stay offline). A key id is global:
-- the resolver finds the brand of a scanned code from its "k" parameter.
CREATE TABLE brand_keys (
    kid         text PRIMARY KEY CHECK (kid ~ '^[0-9a-f]{8}$'),
    tenant_id   text NOT NULL REFERENCES tenants (id),
    public_key  text NOT NULL UNIQUE CHECK (public_key LIKE 'ed25519:%'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX brand_keys_tenant ON brand_keys (tenant_id);

-- Per-brand verdict thresholds (cloud.provenance.clone.Thresholds, as JSON numbers).
CREATE TABLE brand_settings (
    tenant_id   text PRIMARY KEY REFERENCES tenants (id),
    thresholds  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(thresholds) = 'object'),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per issued trace code. GS1: a serial is unique within its GTIN.
CREATE TABLE trace_codes (
    gtin        text NOT NULL CHECK (gtin ~ '^[0-9]{14}$'),
    serial      text NOT NULL CHECK (length(serial) BETWEEN 1 AND 20),
    tenant_id   text NOT NULL REFERENCES tenants (id),
    lot         text NOT NULL,
    kid         text NOT NULL REFERENCES brand_keys (kid),
    batch       text NOT NULL,
    epc         text NOT NULL UNIQUE,
    issued_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gtin, serial)
);
CREATE INDEX trace_codes_batch ON trace_codes (tenant_id, batch);

-- ------------------------------------------------------------------ channel mapping

-- EPCIS locations (SGLN URNs or Digital Links, as written in events) of our sites.
CREATE TABLE epcis_locations (
    location    text PRIMARY KEY,
    tenant_id   text NOT NULL,
    site_id     text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);
CREATE INDEX epcis_locations_site ON epcis_locations (tenant_id, site_id);

-- EPCIS parties (PGLN URNs etc.) that are distributors: the owning_party of a shipment's
-- destination decides whose authorised area a unit must be sold in.
CREATE TABLE epcis_parties (
    party           text PRIMARY KEY,
    tenant_id       text NOT NULL,
    distributor_id  text NOT NULL,
    FOREIGN KEY (tenant_id, distributor_id) REFERENCES distributors (tenant_id, id)
);

-- Authorised areas may also be circles ({"lat", "lon", "radius_km"}), e.g. a city.
ALTER TABLE distributors ADD COLUMN IF NOT EXISTS authorised_circles jsonb NOT NULL
    DEFAULT '[]' CHECK (jsonb_typeof(authorised_circles) = 'array');

-- ------------------------------------------------------------------ custody

-- Every accepted EPCIS event, also appended to the ledger in the same transaction.
-- An error declaration re-sends an event with the same eventID, hence the pair key.
CREATE TABLE custody_events (
    id              bigserial PRIMARY KEY,
    event_id        text NOT NULL,
    error_declared  boolean NOT NULL DEFAULT false,
    tenant_id       text,
    ledger_idx      bigint NOT NULL UNIQUE REFERENCES ledger_entries (idx),
    event_type      text NOT NULL,
    event_time      timestamptz NOT NULL,
    action          text,
    biz_step        text,
    disposition     text,
    biz_location    text,
    read_point      text,
    epcs            text[] NOT NULL,
    parent_id       text,
    child_epcs      text[] NOT NULL DEFAULT '{}',
    quantities      jsonb NOT NULL DEFAULT '[]',
    source          text NOT NULL CHECK (source IN ('capture', 'mqtt')),
    captured_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, error_declared)
);
-- Query by EPC: every instance-level EPC the event names (parent, children, inputs, ...).
CREATE INDEX custody_events_epcs ON custody_events USING gin (epcs);
CREATE INDEX custody_events_time ON custody_events (event_time);
CREATE INDEX custody_events_location ON custody_events (biz_location, event_time);
CREATE INDEX custody_events_parent ON custody_events (parent_id) WHERE parent_id IS NOT NULL;

-- Custody of each serialised object (units, cases, pallets), recomputed from its events.
CREATE TABLE units (
    epc                  text PRIMARY KEY,
    tenant_id            text,
    gtin                 text,
    lot                  text,
    serial               text,
    sscc                 text,
    status               text NOT NULL CHECK (status IN
                         ('commissioned', 'in_transit', 'at_site', 'sold', 'decommissioned')),
    site                 text,
    owner                text,
    possessor            text,
    parent               text,
    shipped_to           text,
    shipped_to_location  text,
    sold_at              timestamptz,
    sold_location        text,
    decommissioned_at    timestamptz,
    intervals            jsonb NOT NULL DEFAULT '[]',
    last_event_id        text NOT NULL,
    last_event_time      timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX units_gtin_serial ON units (gtin, serial);
CREATE INDEX units_site ON units (site, gtin) WHERE status = 'at_site';
CREATE INDEX units_parent ON units (parent) WHERE parent IS NOT NULL;

-- Edge events (custody_inbox) processed by the provenance job: accepted or rejected, why.
CREATE TABLE custody_inbox_outcomes (
    inbox_id      bigint PRIMARY KEY,
    accepted      boolean NOT NULL,
    event_id      text,
    ledger_idx    bigint,
    reason        text,
    errors        jsonb NOT NULL DEFAULT '[]',
    processed_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX custody_inbox_outcomes_rejected ON custody_inbox_outcomes (processed_at)
    WHERE NOT accepted;

-- ------------------------------------------------------------------ consumer scans

-- One row per resolver request. lat/lon are rounded to 0.01° (accuracy_km includes the
-- rounding); region is an ISO 3166-2 style code from the client or an edge header.
CREATE TABLE consumer_scans (
    id           bigserial PRIMARY KEY,
    scanned_at   timestamptz NOT NULL,
    tenant_id    text,
    gtin         text,
    lot          text,
    serial       text,
    kid          text,
    code_status  text NOT NULL,
    lat          double precision CHECK (lat BETWEEN -90 AND 90),
    lon          double precision CHECK (lon BETWEEN -180 AND 180),
    accuracy_km  double precision CHECK (accuracy_km >= 0),
    region       text,
    verdict      text NOT NULL CHECK (verdict IN ('genuine', 'genuine_seen_before',
                 'suspected_diversion', 'suspected_clone', 'counterfeit')),
    reason       text NOT NULL,
    evidence     jsonb NOT NULL DEFAULT '[]',
    CHECK ((lat IS NULL) = (lon IS NULL))
);
CREATE INDEX consumer_scans_code ON consumer_scans (gtin, serial, scanned_at);
CREATE INDEX consumer_scans_tenant_time ON consumer_scans (tenant_id, scanned_at);

-- ------------------------------------------------------------------ reconciliation

-- Open and closed discrepancies between ledger-implied and sensed stock, kept by the
-- reconciliation job so that a discrepancy's age is known (first_seen_at).
CREATE TABLE stock_discrepancies (
    tenant_id      text NOT NULL,
    site_id        text NOT NULL,
    gtin           text NOT NULL,
    first_seen_at  timestamptz NOT NULL,
    last_seen_at   timestamptz NOT NULL,
    implied        bigint NOT NULL,
    sensed         bigint NOT NULL,
    resolved_at    timestamptz,
    PRIMARY KEY (tenant_id, site_id, gtin, first_seen_at)
);
CREATE UNIQUE INDEX stock_discrepancies_open ON stock_discrepancies (tenant_id, site_id, gtin)
    WHERE resolved_at IS NULL;
