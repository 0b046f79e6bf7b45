-- Alerts (docs/alerts.md): conditions raised by the rules of cloud/alerts, their
-- acknowledge/resolve workflow, and webhook notifications through an outbox.

CREATE TABLE alerts (
    id                bigserial PRIMARY KEY,
    tenant_id         text NOT NULL REFERENCES tenants (id),
    site_id           text,
    kind              text NOT NULL,
    dedupe_key        text NOT NULL,
    severity          text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state             text NOT NULL DEFAULT 'open'
                      CHECK (state IN ('open', 'acknowledged', 'resolved')),
    summary           text NOT NULL DEFAULT '',
    details           jsonb NOT NULL DEFAULT '{}',
    evidence          jsonb NOT NULL DEFAULT '[]',
    -- The episode: when the condition started, when it was last seen, and since when it
    -- has been absent (NULL while present): auto-resolution waits for the kind's delay.
    condition_since   timestamptz NOT NULL,
    last_seen_at      timestamptz NOT NULL,
    clear_since       timestamptz,
    opened_at         timestamptz NOT NULL DEFAULT now(),
    acknowledged_at   timestamptz,
    acknowledged_by   text,
    resolved_at       timestamptz,
    resolved_by       text,
    resolution        text CHECK (resolution IN ('auto', 'manual')),
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL)),
    CHECK (state <> 'acknowledged' OR acknowledged_at IS NOT NULL),
    FOREIGN KEY (tenant_id, site_id) REFERENCES sites (tenant_id, id)
);
-- At most one unresolved alert per (tenant, kind, key): two evaluators cannot duplicate.
CREATE UNIQUE INDEX alerts_one_unresolved ON alerts (tenant_id, kind, dedupe_key)
    WHERE state <> 'resolved';
CREATE INDEX alerts_inbox ON alerts (tenant_id, state, opened_at DESC);
CREATE INDEX alerts_key_history ON alerts (tenant_id, kind, dedupe_key, opened_at DESC);
-- The outbox sweep reads recent events by time.
CREATE INDEX alerts_opened ON alerts (opened_at);
CREATE INDEX alerts_acknowledged ON alerts (acknowledged_at) WHERE acknowledged_at IS NOT NULL;
CREATE INDEX alerts_resolved ON alerts (resolved_at) WHERE resolved_at IS NOT NULL;

-- Low-stock thresholds per product, for one site or (site_id '') every site.
CREATE TABLE alert_stock_thresholds (
    tenant_id     text NOT NULL REFERENCES tenants (id),
    gtin          text NOT NULL,
    site_id       text NOT NULL DEFAULT '',
    low_quantity  integer NOT NULL CHECK (low_quantity >= 0),
    PRIMARY KEY (tenant_id, gtin, site_id)
);

-- Results of the ledger audit (cloud/jobs/alerts.py runs it), read by the audit rule.
CREATE TABLE ledger_audit_runs (
    id          bigserial PRIMARY KEY,
    ran_at      timestamptz NOT NULL DEFAULT now(),
    entries     bigint NOT NULL,
    checkpoints bigint NOT NULL,
    ok          boolean NOT NULL,
    findings    jsonb NOT NULL DEFAULT '[]'
);
CREATE INDEX ledger_audit_runs_ran ON ledger_audit_runs (ran_at DESC);

-- Webhook subscriptions: alerts of the tenant (or, with distributor_id, of that
-- distributor's sites), signed with HMAC-SHA256 under secret.
CREATE TABLE webhook_subscriptions (
    id              bigserial PRIMARY KEY,
    tenant_id       text NOT NULL REFERENCES tenants (id),
    distributor_id  text,
    url             text NOT NULL CHECK (url ~ '^https?://'),
    secret          text NOT NULL CHECK (length(secret) >= 16),
    kinds           text[] NOT NULL DEFAULT '{}',  -- empty: every kind
    min_severity    text NOT NULL DEFAULT 'info'
                    CHECK (min_severity IN ('info', 'warning', 'critical')),
    active          boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text,
    FOREIGN KEY (tenant_id, distributor_id) REFERENCES distributors (tenant_id, id)
);
CREATE INDEX webhook_subscriptions_tenant ON webhook_subscriptions (tenant_id) WHERE active;

-- The outbox: one row per (alert, event, subscription), so an event is never notified
-- twice to the same endpoint, whoever enqueues it and however often.
CREATE TABLE alert_notifications (
    id               bigserial PRIMARY KEY,
    tenant_id        text NOT NULL,
    alert_id         bigint NOT NULL REFERENCES alerts (id),
    event            text NOT NULL CHECK (event IN ('opened', 'acknowledged', 'resolved')),
    subscription_id  bigint NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    idempotency_key  uuid NOT NULL DEFAULT gen_random_uuid(),
    payload          jsonb NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    UNIQUE (alert_id, event, subscription_id)
);
CREATE INDEX alert_notifications_due ON alert_notifications (next_attempt_at)
    WHERE status = 'pending';

CREATE TABLE alert_notification_attempts (
    notification_id  bigint NOT NULL REFERENCES alert_notifications (id) ON DELETE CASCADE,
    attempt          integer NOT NULL CHECK (attempt >= 1),
    tenant_id        text NOT NULL,
    attempted_at     timestamptz NOT NULL,
    status_code      integer,
    error            text,
    duration_ms      double precision NOT NULL,
    PRIMARY KEY (notification_id, attempt)
);

-- ------------------------------------------------------------------ row-level security
-- The convention of 0006_access.sql (docs/security.md): one policy ct_scope per table for
-- ct_app, from ct_tenant(), ct_distributor() and ct_site_visible(); the owner (scheduler
-- jobs) is not bound. A distributor sees the alerts of its sites (not tenant-wide ones,
-- such as the ledger's) and manages its own webhook subscriptions.

ALTER TABLE alerts ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON alerts TO ct_app
    USING (tenant_id = ct_tenant()
           AND (ct_distributor() = '' OR ct_site_visible(tenant_id, site_id)));

ALTER TABLE alert_stock_thresholds ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON alert_stock_thresholds TO ct_app
    USING (tenant_id = ct_tenant() AND ct_distributor() = '');

ALTER TABLE webhook_subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON webhook_subscriptions TO ct_app
    USING (tenant_id = ct_tenant()
           AND (ct_distributor() = '' OR distributor_id = ct_distributor()));

ALTER TABLE alert_notifications ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON alert_notifications TO ct_app
    USING (tenant_id = ct_tenant()
           AND subscription_id IN (SELECT s.id FROM webhook_subscriptions s));

ALTER TABLE alert_notification_attempts ENABLE ROW LEVEL SECURITY;
CREATE POLICY ct_scope ON alert_notification_attempts TO ct_app
    USING (tenant_id = ct_tenant()
           AND notification_id IN (SELECT n.id FROM alert_notifications n));

-- The audit runs concern the whole log: owner only.
ALTER TABLE ledger_audit_runs ENABLE ROW LEVEL SECURITY;

-- Acknowledge/resolve (UPDATE alerts); subscriptions and thresholds are managed through
-- the API; the outbox and its attempts are read-only there.
GRANT SELECT, UPDATE ON alerts TO ct_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON alert_stock_thresholds, webhook_subscriptions TO ct_app;
GRANT USAGE ON SEQUENCE webhook_subscriptions_id_seq TO ct_app;
GRANT SELECT ON alert_notifications, alert_notification_attempts TO ct_app;
