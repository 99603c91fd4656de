-- Why: the System Pulse counts eight 24-hour windows that end at any instant. Read from the
-- tenant × hour rollup, each window's two partial hours came from the events themselves (~14,000
-- per hour at 10 million events) and its full hours from ~11,500 rollup rows: ~300 ms a pulse.
-- Two additions make it exact from a few thousand rows:
--   * `last_event` on the tenant rollups. A tenant has an event in a window that cuts a bucket
--     on one side only exactly when its first event in the bucket is not after the window's end
--     (cut above) or its last event is after the window's start (cut below); so a tenant's
--     presence in any window follows from its day rows alone, except a window inside one day,
--     which looks at the events.
--   * `ops_rollup_minute`: every customer event's counts per UTC minute, over all tenants; a
--     window's counts are its whole minutes plus the seconds at its two ends.
-- Lineage as for the other rollups: the same `ops_customer_cell` definition, kept current by
-- the same statement triggers, rebuilt and checked by the same functions.

DROP VIEW ops_customer_cells;
DROP FUNCTION ops_customer_cell(ops_events);

CREATE FUNCTION ops_customer_cell(e ops_events)
RETURNS TABLE (
    tenant_id UUID, at TIMESTAMPTZ, event_type TEXT,
    events INT, api_calls INT, llm_calls INT, llm_failures INT, incidents INT,
    views INT, replays INT, exports INT, certs INT,
    llm_cost NUMERIC, llm_tokens NUMERIC,
    first_event TIMESTAMPTZ, first_incident TIMESTAMPTZ, first_view TIMESTAMPTZ,
    first_replay TIMESTAMPTZ, first_export TIMESTAMPTZ, first_cert TIMESTAMPTZ,
    first_subscription TIMESTAMPTZ, first_cancellation TIMESTAMPTZ,
    last_api_call TIMESTAMPTZ, last_investigation TIMESTAMPTZ, last_export TIMESTAMPTZ,
    last_event TIMESTAMPTZ)
LANGUAGE sql STABLE AS $$
    SELECT e.tenant_id, e.timestamp, e.event_type,
           1,
           (e.event_type = 'API_CALL_RECEIVED')::int,
           (e.event_type = 'LLM_CALL_MADE')::int,
           (e.event_type = 'LLM_CALL_FAILED')::int,
           (e.event_type = 'INCIDENT_CREATED')::int,
           (e.event_type = 'INCIDENT_VIEWED')::int,
           (e.event_type = 'REPLAY_EXECUTED')::int,
           (e.event_type = 'EXPORT_GENERATED')::int,
           (e.event_type = 'CERT_VERIFIED')::int,
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
           CASE WHEN e.event_type = 'EXPORT_GENERATED' THEN e.timestamp END,
           e.timestamp
    WHERE e.tenant_id <> '00000000-0000-0000-0000-000000000000'
      AND coalesce(e.metadata->>'source', '') <> 'operator'
$$;

CREATE VIEW ops_customer_cells AS
SELECT c.* FROM ops_events e, LATERAL ops_customer_cell(e) c;

-- Filled by the rebuild at the end.
ALTER TABLE ops_rollup_hour ADD COLUMN last_event TIMESTAMPTZ;
ALTER TABLE ops_rollup_day ADD COLUMN last_event TIMESTAMPTZ;

-- As in `…08`, with `last_event` last (the column order of the tables).
CREATE OR REPLACE FUNCTION ops_rollup_sql(target TEXT, unit TEXT, cells TEXT) RETURNS TEXT
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
                max(c.last_api_call), max(c.last_investigation), max(c.last_export),
                max(c.last_event)
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
             last_export = greatest(r.last_export, excluded.last_export),
             last_event = greatest(r.last_event, excluded.last_event)',
        target, unit, cells)
$$;

CREATE TABLE ops_rollup_minute (
    bucket TIMESTAMPTZ PRIMARY KEY,
    events INT NOT NULL, api_calls INT NOT NULL, llm_calls INT NOT NULL,
    llm_failures INT NOT NULL, incidents INT NOT NULL, views INT NOT NULL,
    replays INT NOT NULL, exports INT NOT NULL, certs INT NOT NULL
);

-- The statement that adds the counts of `cells` to `target` (ops_rollup_minute or a table like
-- it), one row per UTC minute.
CREATE FUNCTION ops_rollup_minute_sql(target TEXT, cells TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT format(
        'INSERT INTO %I AS r
         SELECT date_trunc(''minute'', c.at, ''UTC''),
                sum(c.events), sum(c.api_calls), sum(c.llm_calls), sum(c.llm_failures),
                sum(c.incidents), sum(c.views), sum(c.replays), sum(c.exports), sum(c.certs)
         FROM (%s) c
         GROUP BY 1 ORDER BY 1
         ON CONFLICT (bucket) DO UPDATE SET
             events = r.events + excluded.events, api_calls = r.api_calls + excluded.api_calls,
             llm_calls = r.llm_calls + excluded.llm_calls,
             llm_failures = r.llm_failures + excluded.llm_failures,
             incidents = r.incidents + excluded.incidents, views = r.views + excluded.views,
             replays = r.replays + excluded.replays, exports = r.exports + excluded.exports,
             certs = r.certs + excluded.certs',
        target, cells)
$$;

CREATE OR REPLACE FUNCTION ops_rollup_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cells CONSTANT TEXT := 'SELECT c.* FROM ops_new_events n, LATERAL ops_customer_cell(n) c';
BEGIN
    EXECUTE ops_rollup_sql('ops_rollup_hour', 'hour', cells);
    EXECUTE ops_rollup_sql('ops_rollup_day', 'day', cells);
    EXECUTE ops_rollup_minute_sql('ops_rollup_minute', cells);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ops_rollup_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
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
    DELETE FROM ops_rollup_minute r
    USING (SELECT DISTINCT date_trunc('minute', timestamp, 'UTC') AS bucket FROM ops_old_events) gone
    WHERE r.bucket = gone.bucket;
    EXECUTE ops_rollup_minute_sql('ops_rollup_minute',
        'SELECT c.* FROM (SELECT DISTINCT date_trunc(''minute'', timestamp, ''UTC'') AS bucket
                          FROM ops_old_events) gone
         JOIN ops_customer_cells c ON c.at >= gone.bucket AND c.at < gone.bucket + interval ''1 minute''');
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ops_rollup_on_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE ops_rollup_hour, ops_rollup_day, ops_rollup_minute;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ops_rollup_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE ops_events IN SHARE MODE;
    TRUNCATE ops_rollup_hour, ops_rollup_day, ops_rollup_minute;
    EXECUTE ops_rollup_sql('ops_rollup_hour', 'hour', 'SELECT * FROM ops_customer_cells');
    EXECUTE ops_rollup_sql('ops_rollup_day', 'day', 'SELECT * FROM ops_customer_cells');
    EXECUTE ops_rollup_minute_sql('ops_rollup_minute', 'SELECT * FROM ops_customer_cells');
    INSERT INTO ops_derived_tables AS d
    SELECT t.name, 'ops_events through ops_customer_cell()', t.grain,
           'triggers ops_rollup_insert, _delete and _truncate on ops_events, in the writing transaction',
           now(), (SELECT max(timestamp) FROM ops_events), (SELECT count(*) FROM ops_events)
    FROM (VALUES ('ops_rollup_hour', 'tenant × UTC hour'), ('ops_rollup_day', 'tenant × UTC day'),
                 ('ops_rollup_minute', 'UTC minute, all tenants')) t(name, grain)
    ON CONFLICT (name) DO UPDATE SET computed_from = excluded.computed_from, grain = excluded.grain,
        maintained_by = excluded.maintained_by, rebuilt_at = excluded.rebuilt_at,
        rebuilt_through = excluded.rebuilt_through, rebuilt_from_events = excluded.rebuilt_from_events;
END $$;

-- As in `…08`, with the minute rollup (its rows have no tenant).
DROP FUNCTION ops_rollup_check();
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
    CREATE TEMP TABLE ops_rollup_fresh (LIKE ops_rollup_minute INCLUDING ALL) ON COMMIT DROP;
    EXECUTE ops_rollup_minute_sql('ops_rollup_fresh', 'SELECT * FROM ops_customer_cells');
    RETURN QUERY EXECUTE
        'SELECT ''ops_rollup_minute''::text, x.bucket, NULL::uuid, ''missing or different in the rollup''::text
           FROM (SELECT * FROM ops_rollup_fresh EXCEPT SELECT * FROM ops_rollup_minute) x
         UNION ALL
         SELECT ''ops_rollup_minute''::text, x.bucket, NULL::uuid, ''not in a fresh computation''::text
           FROM (SELECT * FROM ops_rollup_minute EXCEPT SELECT * FROM ops_rollup_fresh) x';
    DROP TABLE ops_rollup_fresh;
END $$;

SELECT ops_rollup_rebuild();

ALTER TABLE ops_rollup_hour ALTER COLUMN last_event SET NOT NULL;
ALTER TABLE ops_rollup_day ALTER COLUMN last_event SET NOT NULL;
