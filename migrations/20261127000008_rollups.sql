-- Why: every page used to aggregate tenants' whole histories from ops_events on each view (up to
-- 50 s at 10 million events). These rollups hold the same aggregates per tenant and hour and per
-- tenant and UTC day. The spec allows derived tables only with lineage, so:
--   * one definition: `ops_customer_cell` maps one event to its contribution, and the triggers,
--     the rebuild (`ops-console rollups rebuild`) and the raw edges of a query all use it;
--   * the triggers below keep both tables exact in the same transaction as every write to
--     ops_events (insert, COPY, delete, truncate), so a rollup is never behind the stream;
--   * `ops_derived_tables` records what each table is computed from and when it was last rebuilt
--     from scratch, and `ops-console rollups check` compares both tables with a fresh rebuild.

-- One event's contribution to every rollup column; no row for events that are not customer
-- behaviour (the platform tenant, and events the console itself made with source = operator).
-- Plain SQL and STABLE, so PostgreSQL inlines it and pushes time filters down to the indexes.
CREATE FUNCTION ops_customer_cell(e ops_events)
RETURNS TABLE (
    tenant_id UUID, at TIMESTAMPTZ, event_type TEXT,
    events BIGINT, api_calls BIGINT, llm_calls BIGINT, llm_failures BIGINT, incidents BIGINT,
    views BIGINT, replays BIGINT, exports BIGINT, certs BIGINT,
    llm_cost NUMERIC, llm_tokens NUMERIC,
    first_event TIMESTAMPTZ, first_incident TIMESTAMPTZ, first_view TIMESTAMPTZ,
    first_replay TIMESTAMPTZ, first_export TIMESTAMPTZ, first_cert TIMESTAMPTZ,
    first_subscription TIMESTAMPTZ, first_cancellation TIMESTAMPTZ,
    last_api_call TIMESTAMPTZ, last_investigation TIMESTAMPTZ, last_export TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    SELECT e.tenant_id, e.timestamp, e.event_type,
           1::bigint,
           (e.event_type = 'API_CALL_RECEIVED')::int::bigint,
           (e.event_type = 'LLM_CALL_MADE')::int::bigint,
           (e.event_type = 'LLM_CALL_FAILED')::int::bigint,
           (e.event_type = 'INCIDENT_CREATED')::int::bigint,
           (e.event_type = 'INCIDENT_VIEWED')::int::bigint,
           (e.event_type = 'REPLAY_EXECUTED')::int::bigint,
           (e.event_type = 'EXPORT_GENERATED')::int::bigint,
           (e.event_type = 'CERT_VERIFIED')::int::bigint,
           CASE WHEN e.event_type = 'LLM_CALL_MADE' THEN coalesce(e.cost_usd, 0) ELSE 0 END::numeric,
           CASE WHEN e.event_type = 'LLM_CALL_MADE' THEN
               (CASE WHEN jsonb_typeof(e.metadata->'tokens_in') = 'number' THEN (e.metadata->>'tokens_in')::numeric ELSE 0 END) +
               (CASE WHEN jsonb_typeof(e.metadata->'tokens_out') = 'number' THEN (e.metadata->>'tokens_out')::numeric ELSE 0 END)
           ELSE 0 END,
           e.timestamp,
           CASE WHEN e.event_type = 'INCIDENT_CREATED' THEN e.timestamp END,
           CASE WHEN e.event_type = 'INCIDENT_VIEWED' THEN e.timestamp END,
           CASE WHEN e.event_type = 'REPLAY_EXECUTED' THEN e.timestamp END,
           CASE WHEN e.event_type = 'EXPORT_GENERATED' THEN e.timestamp END,
           CASE WHEN e.event_type = 'CERT_VERIFIED' THEN e.timestamp END,
           CASE WHEN e.event_type = 'SUBSCRIPTION_STARTED' THEN e.timestamp END,
           CASE WHEN e.event_type = 'SUBSCRIPTION_CANCELLED' THEN e.timestamp END,
           CASE WHEN e.event_type = 'API_CALL_RECEIVED' THEN e.timestamp END,
           CASE WHEN e.event_type IN ('INCIDENT_VIEWED', 'REPLAY_EXECUTED', 'EXPORT_GENERATED') THEN e.timestamp END,
           CASE WHEN e.event_type = 'EXPORT_GENERATED' THEN e.timestamp END
    WHERE e.tenant_id <> '00000000-0000-0000-0000-000000000000'
      AND coalesce(e.metadata->>'source', '') <> 'operator'
$$;

-- Every customer event's cell: what queries read for the raw edges of a window.
CREATE VIEW ops_customer_cells AS
SELECT c.* FROM ops_events e, LATERAL ops_customer_cell(e) c;

CREATE TABLE ops_rollup_hour (
    bucket TIMESTAMPTZ NOT NULL,
    tenant_id UUID NOT NULL,
    events BIGINT NOT NULL, api_calls BIGINT NOT NULL, llm_calls BIGINT NOT NULL,
    llm_failures BIGINT NOT NULL, incidents BIGINT NOT NULL, views BIGINT NOT NULL,
    replays BIGINT NOT NULL, exports BIGINT NOT NULL, certs BIGINT NOT NULL,
    llm_cost NUMERIC NOT NULL, llm_tokens NUMERIC NOT NULL,
    first_event TIMESTAMPTZ NOT NULL, first_incident TIMESTAMPTZ, first_view TIMESTAMPTZ,
    first_replay TIMESTAMPTZ, first_export TIMESTAMPTZ, first_cert TIMESTAMPTZ,
    first_subscription TIMESTAMPTZ, first_cancellation TIMESTAMPTZ,
    last_api_call TIMESTAMPTZ, last_investigation TIMESTAMPTZ, last_export TIMESTAMPTZ,
    PRIMARY KEY (bucket, tenant_id)
);

CREATE TABLE ops_rollup_day (LIKE ops_rollup_hour INCLUDING ALL);

-- Lineage: what each derived table is computed from, how it stays current, when it was last
-- rebuilt from scratch and from how much of the stream.
CREATE TABLE ops_derived_tables (
    name TEXT PRIMARY KEY,
    computed_from TEXT NOT NULL,
    grain TEXT NOT NULL,
    maintained_by TEXT NOT NULL,
    rebuilt_at TIMESTAMPTZ NOT NULL,
    rebuilt_through TIMESTAMPTZ,
    rebuilt_from_events BIGINT NOT NULL
);

-- The statement that adds the aggregates of `cells` (a query over ops_customer_cell rows) to one
-- rollup. Keys go in order, so concurrent writers lock shared rows in the same order and never
-- deadlock. A text, not a function that runs it: a trigger's transition table is visible only to
-- statements the trigger function itself executes.
CREATE FUNCTION ops_rollup_sql(target TEXT, unit TEXT, cells TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT format(
        'INSERT INTO %I AS r
         SELECT date_trunc(%L, c.at, ''UTC''), c.tenant_id,
                sum(c.events), sum(c.api_calls), sum(c.llm_calls), sum(c.llm_failures),
                sum(c.incidents), sum(c.views), sum(c.replays), sum(c.exports), sum(c.certs),
                sum(c.llm_cost), sum(c.llm_tokens),
                min(c.first_event), min(c.first_incident), min(c.first_view), min(c.first_replay),
                min(c.first_export), min(c.first_cert), min(c.first_subscription),
                min(c.first_cancellation),
                max(c.last_api_call), max(c.last_investigation), max(c.last_export)
         FROM (%s) c
         GROUP BY 1, 2 ORDER BY 1, 2
         ON CONFLICT (bucket, tenant_id) DO UPDATE SET
             events = r.events + excluded.events, api_calls = r.api_calls + excluded.api_calls,
             llm_calls = r.llm_calls + excluded.llm_calls,
             llm_failures = r.llm_failures + excluded.llm_failures,
             incidents = r.incidents + excluded.incidents, views = r.views + excluded.views,
             replays = r.replays + excluded.replays, exports = r.exports + excluded.exports,
             certs = r.certs + excluded.certs, llm_cost = r.llm_cost + excluded.llm_cost,
             llm_tokens = r.llm_tokens + excluded.llm_tokens,
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
             last_export = greatest(r.last_export, excluded.last_export)',
        target, unit, cells)
$$;

CREATE FUNCTION ops_rollup_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cells CONSTANT TEXT := 'SELECT c.* FROM ops_new_events n, LATERAL ops_customer_cell(n) c';
BEGIN
    EXECUTE ops_rollup_sql('ops_rollup_hour', 'hour', cells);
    EXECUTE ops_rollup_sql('ops_rollup_day', 'day', cells);
    RETURN NULL;
END $$;

-- Deletes are rare (demo reseeding, retention): every bucket a delete touched is recomputed
-- from what is left in ops_events.
CREATE FUNCTION ops_rollup_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    t RECORD;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('ops_rollup_hour', 'hour'), ('ops_rollup_day', 'day')) v(target, unit) LOOP
        EXECUTE format(
            'DELETE FROM %I r USING (SELECT DISTINCT date_trunc(%L, timestamp, ''UTC'') AS bucket, tenant_id
                                      FROM ops_old_events) t
             WHERE r.bucket = t.bucket AND r.tenant_id = t.tenant_id', t.target, t.unit);
        EXECUTE ops_rollup_sql(t.target, t.unit, format(
            'SELECT c.* FROM (SELECT DISTINCT date_trunc(%L, timestamp, ''UTC'') AS bucket, tenant_id
                              FROM ops_old_events) t
             JOIN ops_customer_cells c ON c.tenant_id = t.tenant_id AND c.at >= t.bucket
                                      AND c.at < t.bucket + %L::interval', t.unit, '1 ' || t.unit));
    END LOOP;
    RETURN NULL;
END $$;

CREATE FUNCTION ops_rollup_on_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE ops_rollup_hour, ops_rollup_day;
    RETURN NULL;
END $$;

CREATE TRIGGER ops_rollup_insert AFTER INSERT ON ops_events
    REFERENCING NEW TABLE AS ops_new_events
    FOR EACH STATEMENT EXECUTE FUNCTION ops_rollup_on_insert();
CREATE TRIGGER ops_rollup_delete AFTER DELETE ON ops_events
    REFERENCING OLD TABLE AS ops_old_events
    FOR EACH STATEMENT EXECUTE FUNCTION ops_rollup_on_delete();
CREATE TRIGGER ops_rollup_truncate AFTER TRUNCATE ON ops_events
    FOR EACH STATEMENT EXECUTE FUNCTION ops_rollup_on_truncate();

-- Events are never updated; refusing it keeps the rollups' promise simple and true.
CREATE FUNCTION ops_events_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'ops_events rows are immutable; delete and re-insert instead';
END $$;
CREATE TRIGGER ops_events_no_update BEFORE UPDATE ON ops_events
    FOR EACH STATEMENT EXECUTE FUNCTION ops_events_immutable();

-- Rebuilds both rollups from ops_events alone and records it. Writers wait meanwhile (SHARE
-- lock): an insert during the rebuild would otherwise be counted twice or not at all.
CREATE FUNCTION ops_rollup_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE ops_events IN SHARE MODE;
    TRUNCATE ops_rollup_hour, ops_rollup_day;
    EXECUTE ops_rollup_sql('ops_rollup_hour', 'hour', 'SELECT * FROM ops_customer_cells');
    EXECUTE ops_rollup_sql('ops_rollup_day', 'day', 'SELECT * FROM ops_customer_cells');
    INSERT INTO ops_derived_tables AS d
    SELECT t.name, 'ops_events through ops_customer_cell()', t.grain,
           'triggers ops_rollup_insert, _delete and _truncate on ops_events, in the writing transaction',
           now(), (SELECT max(timestamp) FROM ops_events), (SELECT count(*) FROM ops_events)
    FROM (VALUES ('ops_rollup_hour', 'tenant × UTC hour'), ('ops_rollup_day', 'tenant × UTC day')) t(name, grain)
    ON CONFLICT (name) DO UPDATE SET computed_from = excluded.computed_from, grain = excluded.grain,
        maintained_by = excluded.maintained_by, rebuilt_at = excluded.rebuilt_at,
        rebuilt_through = excluded.rebuilt_through, rebuilt_from_events = excluded.rebuilt_from_events;
END $$;

-- Rows in which a rollup differs from a fresh computation from ops_events (both directions);
-- zero rows means exact.
CREATE FUNCTION ops_rollup_check() RETURNS TABLE (rollup TEXT, bucket TIMESTAMPTZ, tenant_id UUID, problem TEXT)
LANGUAGE plpgsql AS $$
DECLARE
    t RECORD;
BEGIN
    FOR t IN SELECT * FROM (VALUES ('ops_rollup_hour', 'hour'), ('ops_rollup_day', 'day')) v(target, unit) LOOP
        CREATE TEMP TABLE ops_rollup_fresh (LIKE ops_rollup_hour INCLUDING ALL) ON COMMIT DROP;
        EXECUTE ops_rollup_sql('ops_rollup_fresh', t.unit, 'SELECT * FROM ops_customer_cells');
        RETURN QUERY EXECUTE format(
            'SELECT %L::text, x.bucket, x.tenant_id, ''missing or different in the rollup''::text
               FROM (SELECT * FROM ops_rollup_fresh EXCEPT SELECT * FROM %I) x
             UNION ALL
             SELECT %L::text, x.bucket, x.tenant_id, ''not in a fresh computation''::text
               FROM (SELECT * FROM %I EXCEPT SELECT * FROM ops_rollup_fresh) x',
            t.target, t.target, t.target, t.target);
        DROP TABLE ops_rollup_fresh;
    END LOOP;
END $$;

-- The page queries are short and planned from rough row counts (arrays of window pieces);
-- PostgreSQL's JIT would spend tens of milliseconds compiling each to save a few. Off for this
-- database, where the role may change it (the pool turns it off per connection as well).
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'jit stays as configured: %', SQLERRM;
END $$;

-- Whatever the stream already holds.
SELECT ops_rollup_rebuild();
