-- Device key changes are announced on the channel ct_device_keys (payload: the device id),
-- so that every running ingest worker evicts that device from its key cache at once: a
-- retired or revoked key stops verifying within a second, not when a cache entry expires
-- (cloud/ingest/keys.py). NOTIFY is delivered at commit, never for a rolled-back change.

CREATE OR REPLACE FUNCTION ct_notify_device_key_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV[0]: the column holding the device id (device_keys.device_id, devices.id).
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM pg_notify('ct_device_keys', to_jsonb(OLD) ->> TG_ARGV[0]);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        PERFORM pg_notify('ct_device_keys', to_jsonb(NEW) ->> TG_ARGV[0]);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER device_keys_notify
    AFTER INSERT OR UPDATE OR DELETE ON device_keys
    FOR EACH ROW EXECUTE FUNCTION ct_notify_device_key_change('device_id');

-- Devices change often (last_seen_at, state on every heartbeat): only the changes that
-- decide which keys verify (retirement, a move to another tenant or site) are announced.
CREATE TRIGGER devices_notify_key_change
    AFTER UPDATE OF status, tenant_id, site_id ON devices
    FOR EACH ROW
    WHEN ((OLD.status = 'retired') IS DISTINCT FROM (NEW.status = 'retired')
          OR OLD.tenant_id IS DISTINCT FROM NEW.tenant_id
          OR OLD.site_id IS DISTINCT FROM NEW.site_id)
    EXECUTE FUNCTION ct_notify_device_key_change('id');

CREATE TRIGGER devices_notify_key_delete
    AFTER DELETE ON devices
    FOR EACH ROW EXECUTE FUNCTION ct_notify_device_key_change('id');
