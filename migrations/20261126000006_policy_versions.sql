-- Why: Incident Intelligence compares each policy version with its predecessor and lets the
-- founder roll a version back; the Replay Lab promotes versions. Which version a tenant runs is
-- the console's own data, kept here with an audit log of every change so each can be undone.

-- Incidents by policy and version: finding each version's first incident and reading a
-- version's severities must not scan the whole stream.
CREATE INDEX idx_events_incident_policy ON ops_events
    ((metadata->>'policy_id'), (metadata->>'policy_version'), timestamp)
    WHERE event_type = 'INCIDENT_CREATED';

-- The version a tenant runs. A row with a NULL tenant_id is the default for every tenant
-- without its own row; without any row, tenants run the newest version the stream shows.
CREATE TABLE ops_policy_active (
    policy_id TEXT NOT NULL CHECK (policy_id <> ''),
    tenant_id UUID,
    version TEXT NOT NULL CHECK (version <> ''),
    set_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    set_by TEXT NOT NULL
);
CREATE UNIQUE INDEX ops_policy_active_scope ON ops_policy_active
    (policy_id, coalesce(tenant_id, '00000000-0000-0000-0000-000000000000'::uuid));

-- Every change of active versions: who, when, from, to, for whom and why. `before` and `after`
-- are the policy's rows of ops_policy_active around the change, so an undo restores `before`
-- exactly, and only while the policy still stands as `after` left it.
CREATE TABLE ops_policy_audit (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    actor TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('rollback', 'promote', 'undo')),
    policy_id TEXT NOT NULL,
    from_version TEXT NOT NULL,
    to_version TEXT NOT NULL,
    -- NULL: the change was for every tenant.
    tenant_ids UUID[],
    reason TEXT NOT NULL CHECK (btrim(reason) <> ''),
    before JSONB NOT NULL,
    after JSONB NOT NULL,
    undoes BIGINT REFERENCES ops_policy_audit(id),
    undone_by BIGINT REFERENCES ops_policy_audit(id)
);
CREATE INDEX ops_policy_audit_policy ON ops_policy_audit (policy_id, id DESC);
