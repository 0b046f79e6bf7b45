-- Identifiers are owned (docs/provenance.md "Ownership", docs/security.md): a brand
-- registers the GS1 company prefixes it owns, and units, codes and custody belong to a
-- tenant (tenant_id in their keys), so no other tenant can reach them by EPC alone.
-- Consumer scans: a per-unit summary (unit_scan_state) is the only input of a verdict
-- besides custody; scans of codes that did not verify are kept apart (counterfeit_scans).

-- ------------------------------------------------------------------ company prefixes

-- A prefix is written as it starts the 13 digits after a GTIN-14's indicator digit
-- (wire.gs1.check_company_prefix). No two tenants' prefixes overlap: one may not be a
-- prefix of another (a trigger checks it across tenants, whoever inserts).
CREATE TABLE company_prefixes (
    prefix      text PRIMARY KEY CHECK (prefix ~ '^[0-9]{6,12}$'),
    tenant_id   text NOT NULL REFERENCES tenants (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL DEFAULT ''
);
CREATE INDEX company_prefixes_tenant ON company_prefixes (tenant_id);

-- SECURITY DEFINER: the API inserts as ct_app, which sees only its own tenant's prefixes,
-- and the overlap check must see everyone's. The advisory lock serialises registrations,
-- so two tenants cannot register overlapping prefixes at the same moment.
CREATE FUNCTION ct_company_prefix_guard() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    other company_prefixes%ROWTYPE;
    codes bigint;
    owned bigint;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'company prefixes are added and removed, not changed'
            USING ERRCODE = 'feature_not_supported';
    ELSIF TG_OP = 'INSERT' THEN
        PERFORM pg_advisory_xact_lock(hashtextextended('ct_company_prefixes', 0));
        SELECT * INTO other FROM company_prefixes p
        WHERE starts_with(p.prefix, NEW.prefix) OR starts_with(NEW.prefix, p.prefix)
        ORDER BY p.tenant_id = NEW.tenant_id DESC LIMIT 1;
        IF FOUND AND other.tenant_id = NEW.tenant_id THEN
            RAISE EXCEPTION 'company prefix % overlaps your prefix %', NEW.prefix, other.prefix
                USING ERRCODE = 'exclusion_violation', DETAIL = 'own:' || other.prefix;
        ELSIF FOUND THEN
            RAISE EXCEPTION 'company prefix % overlaps a prefix registered by another tenant',
                NEW.prefix USING ERRCODE = 'exclusion_violation', DETAIL = 'other';
        END IF;
        RETURN NEW;
    END IF;
    -- DELETE: not while the tenant's codes or units are under it (they would stop
    -- verifying, and another tenant could then claim the prefix).
    SELECT count(*) INTO codes FROM trace_codes t
    WHERE t.tenant_id = OLD.tenant_id AND starts_with(substr(t.gtin, 2), OLD.prefix);
    SELECT count(*) INTO owned FROM units u
    WHERE u.tenant_id = OLD.tenant_id AND (starts_with(substr(u.gtin, 2), OLD.prefix)
                                           OR starts_with(substr(u.sscc, 2), OLD.prefix));
    IF codes > 0 OR owned > 0 THEN
        RAISE EXCEPTION 'company prefix % is in use: % issued trace code(s) and % unit(s) '
            'with custody are under it', OLD.prefix, codes, owned
            USING ERRCODE = 'dependent_objects_still_exist';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER company_prefixes_guard BEFORE INSERT OR UPDATE OR DELETE ON company_prefixes
    FOR EACH ROW EXECUTE FUNCTION ct_company_prefix_guard();

ALTER TABLE company_prefixes ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON company_prefixes TO ct_app
    USING (tenant_id = ct_tenant() AND ct_distributor() = '');
GRANT SELECT, INSERT, DELETE ON company_prefixes TO ct_app;

-- ------------------------------------------------------------------ tenant-owned keys

-- Rows without a tenant came only from direct library calls (the API and the gateway path
-- always set one). They cannot be given an owner here: say so rather than guess.
DO $$
DECLARE
    events bigint;
    objects bigint;
BEGIN
    SELECT count(*) INTO events FROM custody_events WHERE tenant_id IS NULL;
    SELECT count(*) INTO objects FROM units WHERE tenant_id IS NULL;
    IF events > 0 OR objects > 0 THEN
        RAISE EXCEPTION '% custody event(s) and % unit(s) have no tenant', events, objects
            USING HINT = 'set custody_events.tenant_id and units.tenant_id to the brand that '
                         'captured them, then migrate again';
    END IF;
END
$$;

-- An eventID is unique per tenant: another tenant reusing an id is neither a conflict
-- (which would tell it the id exists) nor a duplicate (which would skip the event).
ALTER TABLE custody_events ALTER COLUMN tenant_id SET NOT NULL;
ALTER TABLE custody_events ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id);
ALTER TABLE custody_events DROP CONSTRAINT custody_events_event_id_error_declared_key;
ALTER TABLE custody_events ADD CONSTRAINT custody_events_tenant_event
    UNIQUE (tenant_id, event_id, error_declared);
DROP INDEX custody_events_parent;
CREATE INDEX custody_events_parent ON custody_events (tenant_id, parent_id)
    WHERE parent_id IS NOT NULL;

-- A unit is (tenant, EPC): the same EPC under two tenants is two records.
ALTER TABLE units ALTER COLUMN tenant_id SET NOT NULL;
ALTER TABLE units ADD FOREIGN KEY (tenant_id) REFERENCES tenants (id);
ALTER TABLE units DROP CONSTRAINT units_pkey;
ALTER TABLE units ADD PRIMARY KEY (tenant_id, epc);
DROP INDEX units_gtin_serial;
CREATE INDEX units_gtin_serial ON units (tenant_id, gtin, serial);
DROP INDEX units_parent;
CREATE INDEX units_parent ON units (tenant_id, parent) WHERE parent IS NOT NULL;
-- Recalls (CBV disposition "recalled" on the unit or a container it was in): never genuine.
ALTER TABLE units ADD COLUMN recalled_at timestamptz;
UPDATE units u SET recalled_at = (
    SELECT min(c.event_time) FROM custody_events c
    WHERE c.tenant_id = u.tenant_id AND c.disposition = 'recalled' AND c.epcs @> ARRAY[u.epc]
      AND NOT c.error_declared);

-- Issued codes: a serial is unique within its GTIN for its issuer.
ALTER TABLE trace_codes DROP CONSTRAINT trace_codes_pkey;
ALTER TABLE trace_codes ADD PRIMARY KEY (tenant_id, gtin, serial);
ALTER TABLE trace_codes DROP CONSTRAINT trace_codes_epc_key;
ALTER TABLE trace_codes ADD CONSTRAINT trace_codes_tenant_epc UNIQUE (tenant_id, epc);

-- EPCIS locations and parties name things in a tenant's channel: another tenant naming
-- the same SGLN or PGLN maps it to its own site or distributor, never over this one's.
ALTER TABLE epcis_locations DROP CONSTRAINT epcis_locations_pkey;
ALTER TABLE epcis_locations ADD PRIMARY KEY (tenant_id, location);
ALTER TABLE epcis_parties DROP CONSTRAINT epcis_parties_pkey;
ALTER TABLE epcis_parties ADD PRIMARY KEY (tenant_id, party);

-- ------------------------------------------------------------------ consumer scans

-- Scans of codes that did not verify (bad or missing signature, unknown or revoked key,
-- a key of another brand, a serial never issued): kept for the brand's counterfeit map,
-- under the brand that owns the GTIN, and never read by a verdict.
CREATE TABLE counterfeit_scans (
    id           bigserial PRIMARY KEY,
    scanned_at   timestamptz NOT NULL,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    gtin         text NOT NULL CHECK (gtin ~ '^[0-9]{14}$'),
    lot          text CHECK (length(lot) <= 20),
    serial       text CHECK (length(serial) <= 20),
    kid          text CHECK (kid ~ '^[0-9a-f]{8}$'),
    code_status  text NOT NULL,
    finding      text NOT NULL,
    reason       text NOT NULL,
    lat          double precision CHECK (lat BETWEEN -90 AND 90),
    lon          double precision CHECK (lon BETWEEN -180 AND 180),
    accuracy_km  double precision CHECK (accuracy_km >= 0),
    region       text,
    CHECK ((lat IS NULL) = (lon IS NULL))
);
CREATE INDEX counterfeit_scans_tenant_time ON counterfeit_scans (tenant_id, scanned_at);

-- Earlier scans that were not of a verified code move there (they counted in histories).
INSERT INTO counterfeit_scans (scanned_at, tenant_id, gtin, lot, serial, kid, code_status,
                               finding, reason, lat, lon, accuracy_km, region)
SELECT s.scanned_at, s.tenant_id, s.gtin, left(s.lot, 20), left(s.serial, 20), s.kid,
       s.code_status, coalesce(s.evidence -> 0 ->> 'code', s.code_status), s.reason,
       s.lat, s.lon, s.accuracy_km, s.region
FROM consumer_scans s
WHERE (s.code_status <> 'valid' OR s.evidence @> '[{"code": "unknown_serial"}]')
  AND s.tenant_id IS NOT NULL AND s.gtin ~ '^[0-9]{14}$'
  AND (s.kid IS NULL OR s.kid ~ '^[0-9a-f]{8}$');
DELETE FROM consumer_scans
WHERE code_status <> 'valid' OR evidence @> '[{"code": "unknown_serial"}]';

-- consumer_scans now holds scans of verified codes only: who scanned (a per-unit tag of
-- the client's network, never the address) and whether the verdict was corroborated.
ALTER TABLE consumer_scans ADD COLUMN client text CHECK (client ~ '^[0-9a-f]{16}$');
ALTER TABLE consumer_scans ADD COLUMN confirmed boolean NOT NULL DEFAULT true;
ALTER TABLE consumer_scans DROP CONSTRAINT consumer_scans_verdict_check;
ALTER TABLE consumer_scans ADD CONSTRAINT consumer_scans_verdict_check CHECK (verdict IN
    ('genuine', 'genuine_seen_before', 'inconsistent_custody', 'suspected_diversion',
     'suspected_clone', 'recalled', 'counterfeit'));
DROP INDEX consumer_scans_code;
CREATE INDEX consumer_scans_code ON consumer_scans (tenant_id, gtin, serial, scanned_at);

-- What a verdict reads about a unit's earlier scans, updated with each trusted scan in the
-- same transaction (the row lock orders concurrent scans of one code). Bounded: ``early``
-- keeps the first located scan of each of the first 8 clients, ``recent`` the last 64
-- scans; ``flags`` keeps a confirmed clone finding once its scans have left ``recent``.
CREATE TABLE unit_scan_state (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    gtin        text NOT NULL CHECK (gtin ~ '^[0-9]{14}$'),
    serial      text NOT NULL CHECK (length(serial) BETWEEN 1 AND 20),
    scans       bigint NOT NULL DEFAULT 0 CHECK (scans >= 0),
    first_at    timestamptz,
    last_at     timestamptz,
    early       jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(early) = 'array'),
    recent      jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(recent) = 'array'),
    flags       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(flags) = 'object'),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, gtin, serial)
);

-- The trusted scans recorded so far become the units' summaries (clients unknown: they
-- count as one).
INSERT INTO unit_scan_state (tenant_id, gtin, serial, scans, first_at, last_at, early, recent)
SELECT s.tenant_id, s.gtin, s.serial, count(*), min(s.scanned_at), max(s.scanned_at),
       coalesce((SELECT jsonb_agg(x.item ORDER BY x.t) FROM (
           SELECT jsonb_build_object('t', e.scanned_at, 'lat', e.lat, 'lon', e.lon,
                                     'acc', e.accuracy_km, 'region', e.region) AS item,
                  e.scanned_at AS t
           FROM consumer_scans e
           WHERE (e.tenant_id, e.gtin, e.serial) = (s.tenant_id, s.gtin, s.serial)
             AND (e.lat IS NOT NULL OR e.region IS NOT NULL)
           ORDER BY e.scanned_at LIMIT 1) x), '[]'),
       coalesce((SELECT jsonb_agg(x.item ORDER BY x.t) FROM (
           SELECT jsonb_build_object('t', r.scanned_at, 'lat', r.lat, 'lon', r.lon,
                                     'acc', r.accuracy_km, 'region', r.region) AS item,
                  r.scanned_at AS t
           FROM consumer_scans r
           WHERE (r.tenant_id, r.gtin, r.serial) = (s.tenant_id, s.gtin, s.serial)
           ORDER BY r.scanned_at DESC LIMIT 64) x), '[]')
FROM consumer_scans s
WHERE s.tenant_id IS NOT NULL AND s.gtin ~ '^[0-9]{14}$' AND length(s.serial) BETWEEN 1 AND 20
GROUP BY s.tenant_id, s.gtin, s.serial;

-- ------------------------------------------------------------------ access

ALTER TABLE counterfeit_scans ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON counterfeit_scans TO ct_app
    USING (tenant_id = ct_tenant() AND ct_distributor() = '');
ALTER TABLE unit_scan_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON unit_scan_state TO ct_app
    USING (tenant_id = ct_tenant() AND ct_distributor() = '');
GRANT SELECT ON counterfeit_scans, unit_scan_state TO ct_app;
