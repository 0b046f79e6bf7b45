-- Channel master data managed through the product (docs/channel-setup.md): the fields a
-- brand manager keeps (contacts, addresses, product names in two languages), GB/T 2260
-- region codes, brand-only writes through the API's role, an append-only change log
-- (who, when, before/after) and the import files it came from.

-- ------------------------------------------------------------------ fields

ALTER TABLE distributors
    ADD COLUMN contact_name   text,
    ADD COLUMN contact_phone  text,
    ADD COLUMN contact_email  text,
    ADD COLUMN updated_at     timestamptz NOT NULL DEFAULT now();

ALTER TABLE sites
    ADD COLUMN address     text,
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now();

-- products.name stays the name every reader shows (the English name, else the Chinese);
-- the two languages are kept apart for the console and the consumer page.
ALTER TABLE products
    ADD COLUMN name_en     text,
    ADD COLUMN name_zh     text,
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now();
UPDATE products SET name_en = name WHERE name_en IS NULL AND name_zh IS NULL;
-- Writers that know only products.name (older code, SQL by hand) keep the two in step.
CREATE FUNCTION ct_products_names() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.name_en IS NULL AND NEW.name_zh IS NULL THEN
        NEW.name_en := NEW.name;
    ELSIF TG_OP = 'UPDATE' AND NEW.name IS DISTINCT FROM OLD.name
          AND NEW.name_en IS NOT DISTINCT FROM OLD.name_en
          AND NEW.name_zh IS NOT DISTINCT FROM OLD.name_zh THEN
        NEW.name_en := NEW.name;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER products_names BEFORE INSERT OR UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION ct_products_names();

ALTER TABLE epcis_locations ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE epcis_parties
    ADD COLUMN created_at  timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now();
CREATE INDEX epcis_parties_distributor ON epcis_parties (tenant_id, distributor_id);

-- ------------------------------------------------------------------ regions

-- Regions were ISO 3166-2 style (CN-GD); they are GB/T 2260 codes now (440000), which a
-- scan's GPS point is mapped to offline (cloud/channel/geocode.py). Translate the 34
-- province-level codes; anything else is left as it was (the console lists it to fix).
CREATE TEMPORARY TABLE ct_iso_gbt (iso text PRIMARY KEY, gbt text NOT NULL);
INSERT INTO ct_iso_gbt VALUES
    ('CN-BJ', '110000'), ('CN-TJ', '120000'), ('CN-HE', '130000'), ('CN-SX', '140000'),
    ('CN-NM', '150000'), ('CN-LN', '210000'), ('CN-JL', '220000'), ('CN-HL', '230000'),
    ('CN-SH', '310000'), ('CN-JS', '320000'), ('CN-ZJ', '330000'), ('CN-AH', '340000'),
    ('CN-FJ', '350000'), ('CN-JX', '360000'), ('CN-SD', '370000'), ('CN-HA', '410000'),
    ('CN-HB', '420000'), ('CN-HN', '430000'), ('CN-GD', '440000'), ('CN-GX', '450000'),
    ('CN-HI', '460000'), ('CN-CQ', '500000'), ('CN-SC', '510000'), ('CN-GZ', '520000'),
    ('CN-YN', '530000'), ('CN-XZ', '540000'), ('CN-SN', '610000'), ('CN-GS', '620000'),
    ('CN-QH', '630000'), ('CN-NX', '640000'), ('CN-XJ', '650000'), ('CN-TW', '710000'),
    ('CN-HK', '810000'), ('CN-MO', '820000');
UPDATE sites s SET region = m.gbt FROM ct_iso_gbt m WHERE s.region = m.iso;
UPDATE distributors d
SET regions = ARRAY(SELECT coalesce(m.gbt, r) FROM unnest(d.regions) WITH ORDINALITY AS x(r, i)
                    LEFT JOIN ct_iso_gbt m ON m.iso = x.r ORDER BY x.i)
WHERE d.regions && ARRAY(SELECT iso FROM ct_iso_gbt);
DROP TABLE ct_iso_gbt;

-- ------------------------------------------------------------------ imports and changes

-- An uploaded file is kept until applied (the console's "dry run, then apply" is two
-- requests), with the dry run's report; changes it made point back to it.
CREATE TABLE channel_imports (
    id           bigserial PRIMARY KEY,
    tenant_id    text NOT NULL REFERENCES tenants (id),
    filename     text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    media_type   text NOT NULL,
    kind         text CHECK (kind IN ('distributor', 'site', 'product', 'location', 'party',
                                      'prefix')),
    content      bytea NOT NULL CHECK (length(content) <= 8388608),
    sha256       bytea NOT NULL CHECK (length(sha256) = 32),
    report       jsonb NOT NULL DEFAULT '{}',
    created_by   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    applied_by   text,
    applied_at   timestamptz,
    CHECK ((applied_by IS NULL) = (applied_at IS NULL))
);
CREATE INDEX channel_imports_tenant ON channel_imports (tenant_id, created_at DESC);

-- Every change of master data: who, when, through what, and the record before and after
-- (NULL before: created; NULL after: deleted). Append-only, for the owner too.
CREATE TABLE channel_changes (
    id         bigserial PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id),
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    via        text NOT NULL CHECK (via IN ('api', 'console', 'cli', 'import', 'operator')),
    entity     text NOT NULL CHECK (entity IN ('tenant', 'distributor', 'site', 'product',
                                               'location', 'party', 'prefix', 'user')),
    key        text NOT NULL,
    action     text NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    before     jsonb,
    after      jsonb,
    import_id  bigint REFERENCES channel_imports (id),
    CHECK (before IS NOT NULL OR after IS NOT NULL)
);
CREATE INDEX channel_changes_tenant ON channel_changes (tenant_id, id DESC);
CREATE INDEX channel_changes_key ON channel_changes (tenant_id, entity, key, id DESC);

CREATE FUNCTION ct_channel_changes_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'channel_changes is append-only: % refused', TG_OP
        USING HINT = 'the change log records what happened; correct the data with a new change';
END
$$;
CREATE TRIGGER channel_changes_append_only
    BEFORE UPDATE OR DELETE ON channel_changes
    FOR EACH STATEMENT EXECUTE FUNCTION ct_channel_changes_append_only();

-- ------------------------------------------------------------------ access

-- Brands write their master data through the API's role; distributors read (the existing
-- ct_scope policies) but never write it: a restrictive policy per command says so in the
-- database too, whatever a route forgets.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['distributors', 'sites', 'products', 'epcis_locations',
                             'epcis_parties']
    LOOP
        EXECUTE format('CREATE POLICY ct_brand_insert ON %I AS RESTRICTIVE FOR INSERT TO ct_app'
                       ' WITH CHECK (ct_distributor() = %L)', t, '');
        EXECUTE format('CREATE POLICY ct_brand_update ON %I AS RESTRICTIVE FOR UPDATE TO ct_app'
                       ' USING (ct_distributor() = %L)', t, '');
        EXECUTE format('CREATE POLICY ct_brand_delete ON %I AS RESTRICTIVE FOR DELETE TO ct_app'
                       ' USING (ct_distributor() = %L)', t, '');
    END LOOP;
END
$$;
GRANT INSERT, UPDATE ON distributors, sites, products, epcis_locations, epcis_parties TO ct_app;
GRANT DELETE ON epcis_locations, epcis_parties TO ct_app;

ALTER TABLE channel_imports ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON channel_imports TO ct_app
    USING (tenant_id = ct_tenant() AND ct_distributor() = '');
GRANT SELECT, INSERT, UPDATE ON channel_imports TO ct_app;
GRANT USAGE ON SEQUENCE channel_imports_id_seq TO ct_app;

ALTER TABLE channel_changes ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON channel_changes TO ct_app
    USING (tenant_id = ct_tenant() AND ct_distributor() = '');
GRANT SELECT, INSERT ON channel_changes TO ct_app;
GRANT USAGE ON SEQUENCE channel_changes_id_seq TO ct_app;
