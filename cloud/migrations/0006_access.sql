-- Access control (docs/security.md): people and API keys, device MQTT credentials, and
-- row-level security for the API's database role.
--
-- Convention (follow it in later migrations that add tenant tables):
--   * The API runs every scoped request as role ct_app (NOLOGIN; `SET LOCAL ROLE ct_app`
--     inside the request's transaction) with two transaction-local settings:
--     ct.tenant_id and ct.distributor_id ('' for a brand principal).
--   * Every tenant table gets `ENABLE ROW LEVEL SECURITY` and one policy `ct_scope`
--     FOR ALL TO ct_app, built from ct_tenant(), ct_distributor() and ct_site_visible();
--     then GRANT only what the API needs to ct_app.
--   * Time-series tables (readings, stock_counts, scans and the rollups) are hypertables
--     and continuous aggregates on TimescaleDB, where RLS is not supported: ct_app reads
--     them through security-barrier views of the same name in schema ct_scoped, first on
--     its search_path (`SET LOCAL search_path = ct_scoped, public`), and has no privilege
--     on the tables themselves. Recreate a view when its table gains columns.
--   * The owner (migrations, ingest, scheduler jobs) is not bound by RLS (no FORCE).
--   * Unset settings read as NULL: nothing is visible (fail closed).

-- ------------------------------------------------------------------ people and keys

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants (id),
    username        text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9._@+-]{1,128}$'),
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('brand', 'distributor')),
    distributor_id  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    disabled_at     timestamptz,
    FOREIGN KEY (tenant_id, distributor_id) REFERENCES distributors (tenant_id, id),
    CHECK ((role = 'distributor') = (distributor_id IS NOT NULL))
);
CREATE INDEX users_tenant ON users (tenant_id);

-- Keys are "ct_<prefix>_<secret>": 8 hex prefix (shown, looked up), 32-byte secret.
-- Only SHA-256 of the whole key is stored: keys are random, so a slow hash adds nothing.
CREATE TABLE api_keys (
    prefix          text PRIMARY KEY CHECK (prefix ~ '^[0-9a-f]{8}$'),
    key_hash        bytea NOT NULL CHECK (length(key_hash) = 32),
    tenant_id       text NOT NULL REFERENCES tenants (id),
    role            text NOT NULL CHECK (role IN ('brand', 'distributor')),
    distributor_id  text,
    label           text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    FOREIGN KEY (tenant_id, distributor_id) REFERENCES distributors (tenant_id, id),
    CHECK ((role = 'distributor') = (distributor_id IS NOT NULL))
);
CREATE INDEX api_keys_tenant ON api_keys (tenant_id);

-- One MQTT password per device; only its Mosquitto PBKDF2-SHA512 hash ("$7$...") is kept.
CREATE TABLE device_mqtt_credentials (
    device_id      text PRIMARY KEY REFERENCES devices (id),
    password_hash  text NOT NULL CHECK (password_hash LIKE '$7$%'),
    created_at     timestamptz NOT NULL DEFAULT now(),
    rotated_at     timestamptz
);

-- Cloud services on the broker (the ingest reads every device topic; the config pusher
-- writes config topics), with the same kind of hash.
CREATE TABLE mqtt_service_users (
    username       text PRIMARY KEY CHECK (username ~ '^svc-[A-Za-z0-9_.-]{1,60}$'),
    role           text NOT NULL CHECK (role IN ('ingest', 'config')),
    password_hash  text NOT NULL CHECK (password_hash LIKE '$7$%'),
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- ------------------------------------------------------------------ the application role

-- Roles are cluster-wide: another database's migration may create it at the same moment.
-- Creating it needs CREATEROLE; a DBA may create it beforehand instead.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ct_app') THEN
        CREATE ROLE ct_app NOLOGIN;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;
-- The connecting user switches to ct_app per request.
DO $$
BEGIN
    EXECUTE format('GRANT ct_app TO %I', current_user);
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'cannot grant ct_app to %: %', current_user, SQLERRM;
END
$$;
GRANT USAGE ON SCHEMA public TO ct_app;

CREATE FUNCTION ct_tenant() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS
    $$ SELECT nullif(current_setting('ct.tenant_id', true), '') $$;
CREATE FUNCTION ct_distributor() RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS
    $$ SELECT coalesce(current_setting('ct.distributor_id', true), '') $$;

-- Is site `site` of tenant `tenant` within the session's scope? (Brand: every site of the
-- tenant; distributor: only its own sites.)
CREATE FUNCTION ct_site_visible(tenant text, site text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT $1 = ct_tenant() AND (ct_distributor() = '' OR EXISTS (
        SELECT 1 FROM public.sites s
        WHERE s.tenant_id = $1 AND s.id = $2 AND s.distributor_id = ct_distributor()))
$$;

-- Is an EPCIS location (a site id or an SGLN mapped in epcis_locations) one of the
-- session distributor's sites? Only meaningful for distributor sessions.
CREATE FUNCTION ct_location_of_distributor(loc text) RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT loc IS NOT NULL AND EXISTS (
        SELECT 1 FROM public.sites s
        WHERE s.tenant_id = ct_tenant() AND s.distributor_id = ct_distributor()
          AND (s.id = loc OR EXISTS (
              SELECT 1 FROM public.epcis_locations l
              WHERE l.location = loc AND l.tenant_id = s.tenant_id AND l.site_id = s.id)))
$$;

-- ------------------------------------------------------------------ policies

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON tenants TO ct_app USING (id = ct_tenant());

ALTER TABLE distributors ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON distributors TO ct_app
    USING (tenant_id = ct_tenant() AND (ct_distributor() = '' OR id = ct_distributor()));

ALTER TABLE sites ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON sites TO ct_app
    USING (tenant_id = ct_tenant()
           AND (ct_distributor() = '' OR distributor_id = ct_distributor()));

-- Site-bound tables: the row's (tenant, site) must be visible.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['devices', 'custody_inbox', 'epcis_locations',
                             'stock_discrepancies']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY ct_scope ON %I TO ct_app'
                       ' USING (tenant_id = ct_tenant()'
                       ' AND (ct_distributor() = %L OR ct_site_visible(tenant_id, site_id)))',
                       t, '');
    END LOOP;
END
$$;

-- Site-bound time series: scoped views (see the convention above), on both backends.
CREATE SCHEMA ct_scoped;
GRANT USAGE ON SCHEMA ct_scoped TO ct_app;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['readings', 'stock_counts', 'scans', 'readings_1m', 'readings_1h']
    LOOP
        IF to_regclass('public.' || t) IS NOT NULL THEN
            EXECUTE format('CREATE VIEW ct_scoped.%I WITH (security_barrier) AS'
                           ' SELECT * FROM public.%I WHERE tenant_id = ct_tenant()'
                           ' AND (ct_distributor() = %L OR ct_site_visible(tenant_id, site_id))',
                           t, t, '');
            EXECUTE format('GRANT SELECT ON ct_scoped.%I TO ct_app', t);
        END IF;
    END LOOP;
END
$$;

-- Device-bound tables: the device must be visible (the devices policy applies inside).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['device_keys', 'ingest_log', 'ingest_gaps', 'evicted_seqs',
                             'ingest_gap_cursors', 'device_configs', 'device_alarms',
                             'device_mqtt_credentials']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY ct_scope ON %I TO ct_app'
                       ' USING (device_id IN (SELECT d.id FROM devices d))', t);
    END LOOP;
END
$$;

-- Brand-only tables: the tenant sees its rows; distributors none (users/keys: none at all
-- through ct_app; they are read by the owner during authentication).
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['brand_keys', 'brand_settings', 'trace_codes', 'consumer_scans']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY ct_scope ON %I TO ct_app'
                       ' USING (tenant_id = ct_tenant() AND ct_distributor() = %L)', t, '');
    END LOOP;
END
$$;
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE mqtt_service_users ENABLE ROW LEVEL SECURITY;

-- Products: the tenant's catalogue is visible to its brand and its distributors.
ALTER TABLE products ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON products TO ct_app USING (tenant_id = ct_tenant());

ALTER TABLE epcis_parties ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON epcis_parties TO ct_app
    USING (tenant_id = ct_tenant()
           AND (ct_distributor() = '' OR distributor_id = ct_distributor()));

-- Provenance. A distributor sees a unit (case, pallet) that is or was at one of its sites,
-- and the custody events that happened at its sites (not the rest of the unit's journey).
ALTER TABLE units ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON units TO ct_app
    USING (tenant_id = ct_tenant() AND (ct_distributor() = ''
           OR ct_location_of_distributor(site)
           OR EXISTS (SELECT 1 FROM jsonb_array_elements(intervals) AS i
                      WHERE ct_location_of_distributor(i->>'site'))));

ALTER TABLE custody_events ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON custody_events TO ct_app
    USING (tenant_id = ct_tenant() AND (ct_distributor() = ''
           OR ct_location_of_distributor(biz_location)
           OR ct_location_of_distributor(read_point)));

-- Ledger entries: the log is public only as hashes (proof endpoints run as the owner);
-- through ct_app an entry is visible with the custody event it records.
ALTER TABLE ledger_entries ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON ledger_entries TO ct_app
    USING (EXISTS (SELECT 1 FROM custody_events c WHERE c.ledger_idx = ledger_entries.idx));

-- ------------------------------------------------------------------ grants

GRANT SELECT ON tenants, distributors, sites, devices, products, ingest_log, ingest_gaps,
    evicted_seqs, device_configs, device_alarms, epcis_locations, epcis_parties, custody_events, units, consumer_scans,
    stock_discrepancies, brand_settings, storage_backend, storage_policies,
    ledger_entries TO ct_app;
GRANT INSERT, UPDATE ON brand_settings TO ct_app;
