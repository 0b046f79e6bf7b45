-- Storage: channel model (distributors, products), key rotation, ingest gaps, and the
-- time-series layout. One schema, two backends (docs/storage.md):
--   * TimescaleDB: hypertables, compression, retention and continuous aggregates, all run
--     by TimescaleDB's own policies;
--   * plain PostgreSQL: day partitions (plus a DEFAULT partition, so no row is ever
--     refused) and rollup tables, all kept by the scheduler (cloud/storage).
-- Which one is decided by `channeltrace cloud migrate` from catalog facts before this runs
-- (cloud/storage/selection.py) and passed in as the transaction-local setting
-- channeltrace.storage_backend. This file used to try CREATE EXTENSION and fall back on
-- failure; on a server with TimescaleDB's files but without it preloaded that is FATAL and
-- ends the session, so it never tries: databases that applied the old text keep the
-- storage_backend row it wrote.
-- The names the API reads are identical on both: readings, stock_counts, scans,
-- readings_1m, readings_1h (bucket, tenant_id, site_id, device_id, sensor, metric,
-- n, min, max, avg).

-- ------------------------------------------------------------------ channel model

CREATE TABLE distributors (
    tenant_id   text NOT NULL REFERENCES tenants (id),
    id          text NOT NULL,
    name        text NOT NULL,
    -- The distributor it buys from (big -> small distributor); NULL buys from the brand.
    parent_id   text,
    -- Authorised sales regions (region codes, as in sites.region); a sale or scan
    -- outside them is suspected diversion.
    regions     text[] NOT NULL DEFAULT '{}'
                CHECK (array_position(regions, NULL) IS NULL),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, parent_id) REFERENCES distributors (tenant_id, id),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX distributors_regions ON distributors USING gin (regions);

ALTER TABLE sites ADD COLUMN distributor_id text;
ALTER TABLE sites ADD FOREIGN KEY (tenant_id, distributor_id)
    REFERENCES distributors (tenant_id, id);
CREATE INDEX sites_distributor ON sites (tenant_id, distributor_id);

-- The GTIN check digit is validated in Python (cloud/storage/products.py).
CREATE TABLE products (
    tenant_id         text NOT NULL REFERENCES tenants (id),
    gtin              text NOT NULL CHECK (gtin ~ '^[0-9]{14}$'),
    name              text NOT NULL,
    temp_min_c        double precision,
    temp_max_c        double precision,
    humidity_min_pct  double precision CHECK (humidity_min_pct BETWEEN 0 AND 100),
    humidity_max_pct  double precision CHECK (humidity_max_pct BETWEEN 0 AND 100),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, gtin),
    CHECK (temp_min_c <= temp_max_c),
    CHECK (humidity_min_pct <= humidity_max_pct)
);

-- ------------------------------------------------------------------ key rotation

-- A rotation adds the new key and gives the old one a retirement time in the future,
-- so messages sealed with it and still in the outbox verify during the grace period.
ALTER TABLE device_keys ADD COLUMN rotated_from text;
ALTER TABLE device_keys ADD CHECK (retired_at IS NULL OR retired_at >= added_at);
ALTER TABLE devices ADD COLUMN key_rotated_at timestamptz;
CREATE VIEW device_active_keys AS
    SELECT device_id, public_key, added_at, retired_at
    FROM device_keys
    WHERE retired_at IS NULL OR retired_at > now();

-- ------------------------------------------------------------------ ingest gaps

-- Seqs missing from ingest_log, kept by the detect_gaps job. evicted_seqs counts the seqs
-- of the range that the device reported as evicted by its outbox (deliberate, not lost).
CREATE TABLE ingest_gaps (
    device_id      text NOT NULL REFERENCES devices (id),
    from_seq       bigint NOT NULL CHECK (from_seq >= 1),
    to_seq         bigint NOT NULL,
    detected_at    timestamptz NOT NULL DEFAULT now(),
    backfilled_at  timestamptz,
    evicted_seqs   bigint NOT NULL DEFAULT 0,
    lost_seqs      bigint GENERATED ALWAYS AS (to_seq - from_seq + 1 - evicted_seqs) STORED,
    PRIMARY KEY (device_id, from_seq, to_seq),
    CHECK (to_seq >= from_seq),
    CHECK (evicted_seqs BETWEEN 0 AND to_seq - from_seq + 1)
);
CREATE INDEX ingest_gaps_open ON ingest_gaps (device_id) WHERE backfilled_at IS NULL;

-- Evicted seqs as reported in heartbeats (health.evicted_seqs holds only the latest 1,000).
CREATE TABLE evicted_seqs (
    device_id   text NOT NULL REFERENCES devices (id),
    seq         bigint NOT NULL,
    PRIMARY KEY (device_id, seq)
);

-- How far each device's seqs have been checked for gaps.
CREATE TABLE ingest_gap_cursors (
    device_id   text PRIMARY KEY REFERENCES devices (id),
    checked_to  bigint NOT NULL
);

-- ------------------------------------------------------------------ storage policies

-- Retention (and, on TimescaleDB, compression) per relation. The plain-PostgreSQL jobs
-- read this table; on TimescaleDB the same values become policies (cloud/storage).
CREATE TABLE storage_policies (
    relation        text PRIMARY KEY,
    time_column     text NOT NULL,
    partitioned     boolean NOT NULL,
    retain_for      interval,
    compress_after  interval
);
INSERT INTO storage_policies VALUES
    ('readings',     'time',   true,  INTERVAL '400 days',  INTERVAL '7 days'),
    ('stock_counts', 'time',   true,  INTERVAL '1830 days', INTERVAL '7 days'),
    ('scans',        'time',   true,  INTERVAL '1830 days', INTERVAL '7 days'),
    ('readings_1m',  'bucket', true,  INTERVAL '90 days',   NULL),
    ('readings_1h',  'bucket', false, INTERVAL '1830 days', NULL);

CREATE TABLE storage_backend (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    backend   text NOT NULL CHECK (backend IN ('timescaledb', 'postgresql'))
);

DO $$
DECLARE
    chosen text := current_setting('channeltrace.storage_backend', true);
BEGIN
    IF chosen IS NULL OR chosen NOT IN ('timescaledb', 'postgresql') THEN
        RAISE EXCEPTION 'migration 0002 needs the storage backend chosen by channeltrace cloud migrate'
            USING DETAIL = format('channeltrace.storage_backend is %L; expected timescaledb or postgresql', chosen),
                  HINT = 'run the migrations with `channeltrace cloud migrate`, not by hand';
    END IF;
    IF chosen = 'timescaledb' THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
    END IF;
    INSERT INTO storage_backend (backend) VALUES (chosen);
END
$$;

-- ------------------------------------------------------------------ plain PostgreSQL helpers

-- Creates the UTC day partition of `parent` holding `day`, moving any of its rows out of
-- the DEFAULT partition first (ATTACH refuses a range the DEFAULT partition still holds).
CREATE FUNCTION ct_ensure_day_partition(parent text, day date) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    part   text := format('%s_p%s', parent, to_char(day, 'YYYYMMDD'));
    col    text := (SELECT time_column FROM storage_policies WHERE relation = parent);
    lo     timestamptz := day::timestamp AT TIME ZONE 'UTC';
    hi     timestamptz := (day + 1)::timestamp AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(part) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                   part, parent);
    EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= %L AND %I < %L RETURNING *)'
                   ' INSERT INTO %I SELECT * FROM moved',
                   parent || '_default', col, lo, col, hi, part);
    EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                   parent, part, lo, hi);
    RETURN true;
END
$$;

-- The UTC day a partition named <parent>_pYYYYMMDD holds (NULL for other names).
CREATE FUNCTION ct_partition_day(parent text, part text) RETURNS date
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN part ~ ('^' || parent || '_p[0-9]{8}$')
                THEN to_date(right(part, 8), 'YYYYMMDD') END
$$;

-- ------------------------------------------------------------------ time-series tables

ALTER TABLE readings RENAME TO readings_0001;
ALTER TABLE stock_counts RENAME TO stock_counts_0001;
ALTER TABLE scans RENAME TO scans_0001;
DROP INDEX readings_device_time, readings_site_metric_time, stock_counts_site_gtin_time,
    scans_site_time;

DO $$
DECLARE
    t text;
BEGIN
    IF (SELECT backend FROM storage_backend) = 'timescaledb' THEN
        FOREACH t IN ARRAY ARRAY['readings', 'stock_counts', 'scans'] LOOP
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           t, t || '_0001');
            PERFORM create_hypertable(t::regclass, by_range('time', INTERVAL '1 day'));
        END LOOP;
    ELSE
        FOREACH t IN ARRAY ARRAY['readings', 'stock_counts', 'scans'] LOOP
            EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'
                           ' PARTITION BY RANGE (time)', t, t || '_0001');
            EXECUTE format('CREATE TABLE %I PARTITION OF %I DEFAULT', t || '_default', t);
        END LOOP;
    END IF;
END
$$;

CREATE INDEX readings_device_time ON readings (device_id, time DESC);
CREATE INDEX readings_site_metric_time ON readings (tenant_id, site_id, metric, time DESC);
CREATE INDEX stock_counts_site_gtin_time ON stock_counts (tenant_id, site_id, gtin, time DESC);
CREATE INDEX scans_site_time ON scans (tenant_id, site_id, time DESC);

-- ------------------------------------------------------------------ rollups

DO $$
DECLARE
    p record;
BEGIN
    IF (SELECT backend FROM storage_backend) <> 'timescaledb' THEN
        RETURN;
    END IF;
    -- Compression: one segment per (site, device), newest first inside a segment.
    -- Late rows may still land in compressed chunks (TimescaleDB 2.11+ DML).
    ALTER TABLE readings SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'site_id, device_id',
        timescaledb.compress_orderby = 'time DESC');
    ALTER TABLE stock_counts SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'site_id, device_id',
        timescaledb.compress_orderby = 'time DESC');
    ALTER TABLE scans SET (timescaledb.compress,
        timescaledb.compress_segmentby = 'site_id, device_id',
        timescaledb.compress_orderby = 'time DESC');

    CREATE MATERIALIZED VIEW readings_1m WITH (timescaledb.continuous) AS
        SELECT time_bucket(INTERVAL '1 minute', time) AS bucket,
               tenant_id, site_id, device_id, sensor, metric,
               count(value) AS n, min(value) AS min, max(value) AS max, avg(value) AS avg
        FROM readings WHERE value IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6
        WITH NO DATA;
    CREATE MATERIALIZED VIEW readings_1h WITH (timescaledb.continuous) AS
        SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
               tenant_id, site_id, device_id, sensor, metric,
               count(value) AS n, min(value) AS min, max(value) AS max, avg(value) AS avg
        FROM readings WHERE value IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6
        WITH NO DATA;
    -- Re-aggregate the last 7 days (late data included) every minute / every 15 minutes.
    PERFORM add_continuous_aggregate_policy('readings_1m', start_offset => INTERVAL '7 days',
        end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '1 minute');
    PERFORM add_continuous_aggregate_policy('readings_1h', start_offset => INTERVAL '7 days',
        end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes');

    FOR p IN SELECT * FROM storage_policies LOOP
        IF p.compress_after IS NOT NULL THEN
            PERFORM add_compression_policy(p.relation::regclass, p.compress_after);
        END IF;
        IF p.retain_for IS NOT NULL THEN
            PERFORM add_retention_policy(p.relation::regclass, p.retain_for);
        END IF;
    END LOOP;
END
$$;

DO $$
DECLARE
    t text;
    d date;
BEGIN
    IF (SELECT backend FROM storage_backend) = 'timescaledb' THEN
        RETURN;
    END IF;
    CREATE TABLE readings_1m (
        bucket     timestamptz NOT NULL,
        tenant_id  text NOT NULL,
        site_id    text NOT NULL,
        device_id  text NOT NULL,
        sensor     text NOT NULL,
        metric     text NOT NULL,
        n          bigint NOT NULL,
        min        double precision,
        max        double precision,
        avg        double precision,
        PRIMARY KEY (device_id, sensor, metric, bucket, tenant_id, site_id)
    ) PARTITION BY RANGE (bucket);
    CREATE TABLE readings_1m_default PARTITION OF readings_1m DEFAULT;
    CREATE INDEX readings_1m_site ON readings_1m (tenant_id, site_id, metric, bucket);
    CREATE TABLE readings_1h (LIKE readings_1m INCLUDING ALL);
    CREATE INDEX readings_1h_bucket ON readings_1h (bucket);

    -- Hours touched by each insert statement; the refresh job recomputes exactly those
    -- (like TimescaleDB's own invalidation log). Readings are append-only.
    CREATE TABLE rollup_invalidations (hour timestamptz NOT NULL);
    CREATE FUNCTION ct_invalidate_rollups() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
        INSERT INTO rollup_invalidations (hour)
            SELECT DISTINCT date_trunc('hour', time, 'UTC') FROM new_rows;
        RETURN NULL;
    END
    $fn$;
    CREATE TRIGGER readings_invalidate_rollups AFTER INSERT ON readings
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION ct_invalidate_rollups();

    -- Yesterday to a week ahead now; the scheduler keeps creating them ahead.
    FOREACH t IN ARRAY ARRAY['readings', 'stock_counts', 'scans', 'readings_1m'] LOOP
        FOR d IN SELECT generate_series(-1, 7) + (now() AT TIME ZONE 'UTC')::date LOOP
            PERFORM ct_ensure_day_partition(t, d);
        END LOOP;
    END LOOP;
END
$$;

-- ------------------------------------------------------------------ existing rows

INSERT INTO readings SELECT * FROM readings_0001;
INSERT INTO stock_counts SELECT * FROM stock_counts_0001;
INSERT INTO scans SELECT * FROM scans_0001;
DROP TABLE readings_0001, stock_counts_0001, scans_0001;
