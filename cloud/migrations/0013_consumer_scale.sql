-- The consumer resolver at scale, and what a shopper can do with it (issue 15;
-- docs/provenance.md "Resolver"):
--
-- * unit passports: everything a scan shows about a unit (custody timeline with proof
--   links, product, places, cold-chain exposure per custody interval, verdict inputs),
--   computed when custody or the channel behind it changes, read in the scan's one query.
--   A passport names the unit revision and the tenant's channel epoch it was computed
--   from; a scan that finds either moved recomputes it before judging (never a stale
--   verdict);
-- * brand key, threshold and prefix changes are announced (NOTIFY), so resolvers cache
--   them;
-- * a unit's scan summary carries a revision, so a resolver that writes scans in batches
--   knows which of its own pending scans a summary already holds;
-- * shoppers' reports of suspected fakes, kept for the brand.

-- ------------------------------------------------------------------ unit revisions

CREATE SEQUENCE unit_revisions;
ALTER TABLE units ADD COLUMN revision bigint NOT NULL DEFAULT nextval('unit_revisions');

-- Units whose passport must be (re)computed; drained by the provenance.passports job and
-- by the resolver itself on a miss.
CREATE TABLE passport_queue (
    tenant_id   text NOT NULL,
    epc         text NOT NULL,
    queued_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, epc)
);

-- SECURITY DEFINER: custody is written by the capture path under whatever role it runs as;
-- the queue is ours.
CREATE FUNCTION ct_unit_revision() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
    NEW.revision := nextval('unit_revisions');
    IF NEW.gtin IS NOT NULL AND NEW.serial IS NOT NULL THEN
        INSERT INTO passport_queue (tenant_id, epc) VALUES (NEW.tenant_id, NEW.epc)
            ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER units_revision BEFORE INSERT OR UPDATE ON units
    FOR EACH ROW EXECUTE FUNCTION ct_unit_revision();

-- ------------------------------------------------------------------ channel epochs

-- Bumped by any change to what a passport shows of the tenant's channel (site and
-- distributor names, places, areas, product names and storage profiles, the brand's name):
-- passports of an older epoch are recomputed.
CREATE TABLE passport_epochs (
    tenant_id   text PRIMARY KEY REFERENCES tenants (id),
    epoch       bigint NOT NULL DEFAULT 1,
    changed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION ct_passport_epoch() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    tenant text;
BEGIN
    IF TG_TABLE_NAME = 'tenants' THEN
        tenant := coalesce(NEW.id, OLD.id);
    ELSIF TG_OP = 'DELETE' THEN
        tenant := OLD.tenant_id;
    ELSE
        tenant := NEW.tenant_id;
    END IF;
    IF TG_OP = 'INSERT' AND TG_TABLE_NAME = 'tenants' THEN
        RETURN NULL;  -- a new tenant has no passports yet
    END IF;
    INSERT INTO passport_epochs (tenant_id) VALUES (tenant)
        ON CONFLICT (tenant_id) DO UPDATE
        SET epoch = passport_epochs.epoch + 1, changed_at = now();
    RETURN NULL;
END
$$;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['sites', 'distributors', 'epcis_locations', 'epcis_parties',
                             'products'] LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT OR UPDATE OR DELETE ON %I'
                       ' FOR EACH ROW EXECUTE FUNCTION ct_passport_epoch()',
                       t || '_passport_epoch', t);
    END LOOP;
END
$$;
CREATE TRIGGER tenants_passport_epoch AFTER UPDATE OF name ON tenants
    FOR EACH ROW EXECUTE FUNCTION ct_passport_epoch();

-- ------------------------------------------------------------------ passports

CREATE TABLE unit_passports (
    tenant_id         text NOT NULL REFERENCES tenants (id),
    epc               text NOT NULL,
    unit_revision     bigint NOT NULL,
    channel_epoch     bigint NOT NULL,
    computed_at       timestamptz NOT NULL,
    -- readings behind the cold-chain exposure were read up to this time
    exposure_through  timestamptz,
    -- the unit is at a site (an open custody interval): its exposure grows with readings
    open_interval     boolean NOT NULL DEFAULT false,
    passport          jsonb NOT NULL CHECK (jsonb_typeof(passport) = 'object'),
    PRIMARY KEY (tenant_id, epc)
);
CREATE INDEX unit_passports_epoch ON unit_passports (tenant_id, channel_epoch);
CREATE INDEX unit_passports_open ON unit_passports (exposure_through) WHERE open_interval;

-- ------------------------------------------------------------------ scan summaries

-- Bumped by every write of the summary: a resolver batching its scans knows which of its
-- pending scans a summary it read already holds.
ALTER TABLE unit_scan_state ADD COLUMN revision bigint NOT NULL DEFAULT 0;

-- ------------------------------------------------------------------ cache announcements

-- Resolvers cache brand keys, thresholds and company prefixes; a change is announced on
-- channel ct_brand_cache with the tenant id (cloud.provenance.brandcache).
CREATE FUNCTION ct_brand_cache_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ct_brand_cache', coalesce(NEW.tenant_id, OLD.tenant_id, ''));
    RETURN NULL;
END
$$;
CREATE TRIGGER brand_keys_cache AFTER INSERT OR UPDATE OR DELETE ON brand_keys
    FOR EACH ROW EXECUTE FUNCTION ct_brand_cache_notify();
CREATE TRIGGER brand_settings_cache AFTER INSERT OR UPDATE OR DELETE ON brand_settings
    FOR EACH ROW EXECUTE FUNCTION ct_brand_cache_notify();
CREATE TRIGGER company_prefixes_cache AFTER INSERT OR UPDATE OR DELETE ON company_prefixes
    FOR EACH ROW EXECUTE FUNCTION ct_brand_cache_notify();

-- ------------------------------------------------------------------ reports of fakes

-- A shopper's report of a suspected fake, from the verdict page (anonymous, rate-limited,
-- tied to a scan the resolver recorded). Like scans: no IP address, a coarse place.
CREATE TABLE fake_reports (
    id           bigserial PRIMARY KEY,
    reported_at  timestamptz NOT NULL DEFAULT now(),
    tenant_id    text NOT NULL REFERENCES tenants (id),
    gtin         text NOT NULL CHECK (gtin ~ '^[0-9]{14}$'),
    lot          text CHECK (length(lot) <= 20),
    serial       text CHECK (length(serial) <= 20),
    -- the scan it was made from: consumer_scans.id (verified) or counterfeit_scans.id
    scan_id      bigint NOT NULL,
    verified     boolean NOT NULL,
    verdict      text NOT NULL,
    reason       text NOT NULL CHECK (reason IN
                 ('seal_broken', 'looks_different', 'price_too_low', 'seller', 'other')),
    seller       text NOT NULL DEFAULT '' CHECK (length(seller) <= 200),
    note         text NOT NULL DEFAULT '' CHECK (length(note) <= 1000),
    lat          double precision CHECK (lat BETWEEN -90 AND 90),
    lon          double precision CHECK (lon BETWEEN -180 AND 180),
    accuracy_km  double precision CHECK (accuracy_km >= 0),
    region       text,
    client       text CHECK (client ~ '^[0-9a-f]{16}$'),
    CHECK ((lat IS NULL) = (lon IS NULL))
);
CREATE INDEX fake_reports_tenant_time ON fake_reports (tenant_id, reported_at);
CREATE INDEX fake_reports_code ON fake_reports (tenant_id, gtin, serial);
-- One report per scan: a second submission of the form changes nothing.
CREATE UNIQUE INDEX fake_reports_scan ON fake_reports (tenant_id, verified, scan_id);

-- ------------------------------------------------------------------ access

ALTER TABLE unit_passports ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON unit_passports TO ct_app
    USING (tenant_id = ct_tenant() AND ct_distributor() = '');
ALTER TABLE fake_reports ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON fake_reports TO ct_app
    USING (tenant_id = ct_tenant() AND ct_distributor() = '');
GRANT SELECT ON unit_passports, fake_reports TO ct_app;
