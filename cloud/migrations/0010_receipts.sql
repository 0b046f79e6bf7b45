-- Storage receipts and backfill requests (docs/protocol.md §6a, docs/ingest.md "Receipts").
--
-- A device's seq is *settled* when its message is stored (ingest_log), or the device said
-- it no longer holds it (evicted_seqs; settled_seqs 'not_held'), or an authenticated
-- message under it was refused for good and kept as evidence (settled_seqs 'dead_letter').
-- settled_through is the per-device high-water mark: every seq up to it is settled. The
-- ingest raises it after each batch and tells the device in a signed receipt.

CREATE TABLE device_receipts (
    device_id              text PRIMARY KEY REFERENCES devices (id),
    settled_through        bigint NOT NULL DEFAULT 0 CHECK (settled_through >= 0),
    receipted_at           timestamptz,
    -- Backfill requests: one ingest worker at a time claims a device (see the ingest).
    backfill_requested_at  timestamptz,
    backfill_requests      bigint NOT NULL DEFAULT 0
);

CREATE TABLE settled_seqs (
    device_id   text NOT NULL REFERENCES devices (id),
    seq         bigint NOT NULL CHECK (seq >= 1),
    reason      text NOT NULL CHECK (reason IN ('dead_letter', 'not_held')),
    settled_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, seq)
);

-- Devices that sent messages before receipts existed: their history starts at their first
-- stored seq (nothing before it is owed), as for gap detection (cloud/storage/gaps.py).
INSERT INTO device_receipts (device_id, settled_through)
SELECT l.device_id, min(l.seq) - 1
FROM ingest_log l JOIN devices d ON d.id = l.device_id
GROUP BY l.device_id;

-- Row-level security like every per-device table (migration 0006): the API role reads only
-- its tenant's devices' rows.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['device_receipts', 'settled_seqs']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY ct_scope ON %I TO ct_app'
                       ' USING (device_id IN (SELECT d.id FROM devices d))', t);
    END LOOP;
END
$$;
GRANT SELECT ON device_receipts, settled_seqs TO ct_app;
