-- Why: alerts (PIN-105, Module 1). The thresholds the founder edits on the settings page,
-- seeded with the spec's values; the webhooks that hear about changes; the last value of each
-- watched subject, so a change is raised once however many instances evaluate it; the alerts
-- raised; and each alert's delivery to each webhook, retried with backoff.
CREATE TABLE ops_alert_thresholds (
    key TEXT PRIMARY KEY,
    -- Percentages for drops and spikes (20 = 20%), shares for rates (0.05 = 5%).
    value DOUBLE PRECISION NOT NULL CHECK (value > 0),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_by TEXT
);
INSERT INTO ops_alert_thresholds (key, value) VALUES
    ('tenant_drop_pct', 20),
    ('incident_spike_pct', 50),
    ('replay_drop_pct', 30),
    ('export_drop_pct', 40),
    ('llm_failure_rate', 0.05),
    ('infra_saturation', 0.80);

CREATE TABLE ops_alert_webhooks (
    id BIGSERIAL PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- `system_state` holds STABLE / SILENT_DEGRADATION / ACTIVE_FAILURE; `threshold:<card>` holds
-- ok / crossed. A missing row means the normal value.
CREATE TABLE ops_alert_state (
    subject TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE ops_alerts (
    id BIGSERIAL PRIMARY KEY,
    subject TEXT NOT NULL,
    from_value TEXT NOT NULL,
    to_value TEXT NOT NULL,
    text TEXT NOT NULL,
    -- Exactly what each webhook is sent.
    payload JSONB NOT NULL,
    raised_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX ops_alerts_raised_at ON ops_alerts (raised_at DESC, id DESC);

-- The webhook's address is copied, so history survives the webhook being removed.
CREATE TABLE ops_alert_deliveries (
    alert_id BIGINT NOT NULL REFERENCES ops_alerts (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts INT NOT NULL DEFAULT 0,
    -- For a pending delivery, when it may next be tried (a claim pushes it out as a lease).
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_error TEXT,
    delivered_at TIMESTAMPTZ,
    PRIMARY KEY (alert_id, url)
);
CREATE INDEX ops_alert_deliveries_due ON ops_alert_deliveries (next_attempt_at)
    WHERE status = 'pending';
