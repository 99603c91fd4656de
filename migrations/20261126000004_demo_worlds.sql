-- Why: the demo world is loaded once; this row is its lineage (seed, the moment it ends, how
-- many events and which tenants it wrote), so a second load can say "already here" and a
-- replacement knows exactly which events to remove.
CREATE TABLE demo_worlds (
    seed BIGINT PRIMARY KEY,
    ends_at TIMESTAMPTZ NOT NULL,
    tenant_ids UUID[] NOT NULL,
    events BIGINT NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
