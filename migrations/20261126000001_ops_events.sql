-- Why: every insight of the console is derived from this one time-ordered event stream
-- (PIN-105 "Data Model"). Columns, defaults and the three indexes are exactly the spec's.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE ops_events (
    event_id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    timestamp TIMESTAMPTZ NOT NULL DEFAULT now(),
    tenant_id UUID NOT NULL,
    user_id UUID,
    session_id UUID,
    event_type TEXT NOT NULL,
    entity_type TEXT,
    entity_id UUID,
    severity INT,
    latency_ms INT,
    cost_usd NUMERIC(10,6),
    metadata JSONB DEFAULT '{}'
);

CREATE INDEX idx_events_tenant_time ON ops_events(tenant_id, timestamp DESC);
CREATE INDEX idx_events_type_time ON ops_events(event_type, timestamp DESC);
CREATE INDEX idx_events_tenant_type ON ops_events(tenant_id, event_type);
