-- Why: Customer Intelligence, Revenue & Risk and Product Stickiness each need every tenant's
-- first and last times over its whole history (first event, first subscription, last API call
-- and so on). Read from the day rollup that is every tenant's every day: ~15,500 day rows and
-- ~9,000 hour rows at 10 million events, about 20 ms of each of those pages. `ops_rollup_tenant`
-- keeps one row per tenant with the same first and last times over all its events, and its
-- last event: for a moment at or after a tenant's last event, its row is the answer as it
-- stands. Only tenants with an event after the moment asked about (a page of the past) are
-- read from the day and hour rollups as before.
-- Lineage as for the other derived tables: its own statement triggers on ops_events (they fire
-- after `ops_rollup_insert` and `_delete`, by name), a rebuild and a check against a fresh
-- computation from `ops_customer_cells`.

CREATE TABLE ops_rollup_tenant (
    tenant_id UUID PRIMARY KEY,
    first_event TIMESTAMPTZ NOT NULL,
    first_incident TIMESTAMPTZ, first_view TIMESTAMPTZ, first_replay TIMESTAMPTZ,
    first_export TIMESTAMPTZ, first_cert TIMESTAMPTZ, first_subscription TIMESTAMPTZ,
    first_cancellation TIMESTAMPTZ,
    last_api_call TIMESTAMPTZ, last_investigation TIMESTAMPTZ, last_export TIMESTAMPTZ,
    last_event TIMESTAMPTZ NOT NULL
);

-- Folds `rows` (customer cells, or rows of ops_rollup_day: both carry these columns) into
-- `target`, one row per tenant.
CREATE FUNCTION ops_rollup_tenant_sql(target TEXT, rows TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT format(
        'INSERT INTO %I AS r
         SELECT c.tenant_id, min(c.first_event), min(c.first_incident), min(c.first_view),
                min(c.first_replay), min(c.first_export), min(c.first_cert),
                min(c.first_subscription), min(c.first_cancellation),
                max(c.last_api_call), max(c.last_investigation), max(c.last_export),
                max(c.last_event)
         FROM (%s) c
         GROUP BY 1 ORDER BY 1
         ON CONFLICT (tenant_id) DO UPDATE SET
             first_event = least(r.first_event, excluded.first_event),
             first_incident = least(r.first_incident, excluded.first_incident),
             first_view = least(r.first_view, excluded.first_view),
             first_replay = least(r.first_replay, excluded.first_replay),
             first_export = least(r.first_export, excluded.first_export),
             first_cert = least(r.first_cert, excluded.first_cert),
             first_subscription = least(r.first_subscription, excluded.first_subscription),
             first_cancellation = least(r.first_cancellation, excluded.first_cancellation),
             last_api_call = greatest(r.last_api_call, excluded.last_api_call),
             last_investigation = greatest(r.last_investigation, excluded.last_investigation),
             last_export = greatest(r.last_export, excluded.last_export),
             last_event = greatest(r.last_event, excluded.last_event)',
        target, rows)
$$;

CREATE FUNCTION ops_rollup_tenant_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE ops_rollup_tenant_sql('ops_rollup_tenant',
        'SELECT c.* FROM ops_new_events n, LATERAL ops_customer_cell(n) c');
    RETURN NULL;
END $$;

-- A delete can take away a tenant's first or last event: its row is folded again from its day
-- rows, which `ops_rollup_delete` has just recomputed.
CREATE FUNCTION ops_rollup_tenant_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ops_rollup_tenant r WHERE r.tenant_id IN (SELECT o.tenant_id FROM ops_old_events o);
    EXECUTE ops_rollup_tenant_sql('ops_rollup_tenant',
        'SELECT d.* FROM ops_rollup_day d WHERE d.tenant_id IN (SELECT o.tenant_id FROM ops_old_events o)');
    RETURN NULL;
END $$;

CREATE FUNCTION ops_rollup_tenant_on_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE ops_rollup_tenant;
    RETURN NULL;
END $$;

CREATE TRIGGER ops_rollup_tenant_insert AFTER INSERT ON ops_events
    REFERENCING NEW TABLE AS ops_new_events
    FOR EACH STATEMENT EXECUTE FUNCTION ops_rollup_tenant_on_insert();
CREATE TRIGGER ops_rollup_tenant_delete AFTER DELETE ON ops_events
    REFERENCING OLD TABLE AS ops_old_events
    FOR EACH STATEMENT EXECUTE FUNCTION ops_rollup_tenant_on_delete();
CREATE TRIGGER ops_rollup_tenant_truncate AFTER TRUNCATE ON ops_events
    FOR EACH STATEMENT EXECUTE FUNCTION ops_rollup_tenant_on_truncate();

-- The rebuild of `…13` does the bucket rollups and the facts; this one then folds the tenant
-- rows from the rebuilt day rollup and records their lineage.
ALTER FUNCTION ops_rollup_rebuild() RENAME TO ops_rollup_rebuild_buckets;

CREATE FUNCTION ops_rollup_tenant_fill() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE ops_rollup_tenant;
    EXECUTE ops_rollup_tenant_sql('ops_rollup_tenant', 'SELECT * FROM ops_rollup_day');
    INSERT INTO ops_derived_tables AS d
    VALUES ('ops_rollup_tenant',
            'ops_events through ops_customer_cell(); folded from ops_rollup_day on rebuild and delete',
            'tenant, whole history',
            'triggers ops_rollup_tenant_insert, _delete and _truncate on ops_events, in the writing transaction',
            now(), (SELECT max(timestamp) FROM ops_events), (SELECT count(*) FROM ops_events))
    ON CONFLICT (name) DO UPDATE SET computed_from = excluded.computed_from, grain = excluded.grain,
        maintained_by = excluded.maintained_by, rebuilt_at = excluded.rebuilt_at,
        rebuilt_through = excluded.rebuilt_through, rebuilt_from_events = excluded.rebuilt_from_events;
END $$;

CREATE FUNCTION ops_rollup_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ops_rollup_rebuild_buckets();
    PERFORM ops_rollup_tenant_fill();
END $$;

-- The check of `…13`, and the tenant rows against a fresh fold of the events themselves (not
-- of the day rollup, so that a wrong day row cannot hide a wrong tenant row).
ALTER FUNCTION ops_rollup_check() RENAME TO ops_rollup_check_buckets;

CREATE FUNCTION ops_rollup_check() RETURNS TABLE (rollup TEXT, bucket TIMESTAMPTZ, tenant_id UUID, problem TEXT)
LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY SELECT * FROM ops_rollup_check_buckets();
    CREATE TEMP TABLE ops_rollup_fresh (LIKE ops_rollup_tenant INCLUDING ALL) ON COMMIT DROP;
    EXECUTE ops_rollup_tenant_sql('ops_rollup_fresh', 'SELECT * FROM ops_customer_cells');
    RETURN QUERY
        SELECT 'ops_rollup_tenant'::text, x.first_event, x.tenant_id, 'missing or different in the rollup'::text
          FROM (SELECT * FROM ops_rollup_fresh EXCEPT SELECT * FROM ops_rollup_tenant) x
        UNION ALL
        SELECT 'ops_rollup_tenant'::text, x.first_event, x.tenant_id, 'not in a fresh computation'::text
          FROM (SELECT * FROM ops_rollup_tenant EXCEPT SELECT * FROM ops_rollup_fresh) x;
    DROP TABLE ops_rollup_fresh;
END $$;

SELECT ops_rollup_tenant_fill();
