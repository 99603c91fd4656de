-- Why: Incident Intelligence read every view's incidents from ops_events itself: a day's ~10,000
-- incidents are 3 % of its rows, spread over every heap page of that day, and the day-over-day
-- view reads a week of them (~70,000 rows over ~1 GB of pages at 10 million events): 120 ms and
-- 375 ms a view. `ops_incident_facts` keeps one narrow row per incident, with what the page reads
-- from its metadata already extracted, in time order.
-- `ops_rollup_severity_hour` holds the week's severity per policy and UTC hour over all tenants,
-- as the day-over-day view counts them: ~500 rows for a week instead of ~70,000 incidents.
-- Lineage as for the rollups: one definition (`ops_incident_fact`) used by the insert trigger,
-- the rebuild and the check; kept current in the writing transaction; recorded in
-- `ops_derived_tables`; `ops-console rollups rebuild` and `rollups check` cover it.

-- One event's incident facts; no row for events that are not incidents. Values are as the
-- metadata holds them (NULL when absent); readers apply their own defaults.
CREATE FUNCTION ops_incident_fact(e ops_events)
RETURNS TABLE (
    event_id UUID, incident_id UUID, "timestamp" TIMESTAMPTZ, tenant_id UUID, session_id UUID,
    severity INT, model TEXT, policy_id TEXT, policy_version TEXT, reported TEXT,
    policies_fired INT, context_empty BOOLEAN, customer BOOLEAN)
LANGUAGE sql STABLE AS $$
    SELECT e.event_id, coalesce(e.entity_id, e.event_id), e.timestamp, e.tenant_id, e.session_id,
           e.severity, e.metadata->>'model', e.metadata->>'policy_id',
           e.metadata->>'policy_version', e.metadata->>'attribution',
           CASE WHEN jsonb_typeof(e.metadata->'policies_fired') = 'array' THEN
               (SELECT count(DISTINCT p)::int FROM jsonb_array_elements_text(e.metadata->'policies_fired') p)
           ELSE 0 END,
           CASE WHEN jsonb_typeof(e.metadata->'input') IS DISTINCT FROM 'object' THEN false
                ELSE coalesce(jsonb_typeof(e.metadata->'input'->'context'), 'null') = 'null'
                  OR e.metadata->'input'->'context' IN ('{}'::jsonb, '[]'::jsonb)
                  OR (jsonb_typeof(e.metadata->'input'->'context') = 'string'
                      AND btrim(e.metadata->'input'->>'context') = '')
           END,
           e.tenant_id <> '00000000-0000-0000-0000-000000000000'
             AND coalesce(e.metadata->>'source', '') <> 'operator'
    WHERE e.event_type = 'INCIDENT_CREATED'
$$;

CREATE TABLE ops_incident_facts (
    event_id UUID PRIMARY KEY,
    incident_id UUID NOT NULL,
    "timestamp" TIMESTAMPTZ NOT NULL,
    tenant_id UUID NOT NULL,
    session_id UUID,
    severity INT,
    model TEXT,
    policy_id TEXT,
    policy_version TEXT,
    reported TEXT,
    policies_fired INT NOT NULL,
    context_empty BOOLEAN NOT NULL,
    customer BOOLEAN NOT NULL
);
-- The window's incidents, newest first (the list and the Replay Lab's newest 30).
CREATE INDEX idx_incident_facts_time ON ops_incident_facts ("timestamp" DESC, event_id DESC);
-- One tenant's incidents.
CREATE INDEX idx_incident_facts_tenant ON ops_incident_facts (tenant_id, "timestamp" DESC);

-- Incidents with a severity and a policy, per policy and UTC hour, every tenant together.
CREATE TABLE ops_rollup_severity_hour (
    bucket TIMESTAMPTZ NOT NULL,
    policy_id TEXT NOT NULL,
    incidents INT NOT NULL,
    severity_sum BIGINT NOT NULL,
    PRIMARY KEY (bucket, policy_id)
);

-- The statement that adds the severities of `facts` (a query over ops_incident_fact rows) to
-- `target` (ops_rollup_severity_hour or a table like it). Keys in order, as the other rollups.
CREATE FUNCTION ops_rollup_severity_sql(target TEXT, facts TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT format(
        'INSERT INTO %I AS r
         SELECT date_trunc(''hour'', f."timestamp", ''UTC''), f.policy_id, count(*)::int, sum(f.severity)
         FROM (%s) f
         WHERE f.severity IS NOT NULL AND f.policy_id IS NOT NULL
         GROUP BY 1, 2 ORDER BY 1, 2
         ON CONFLICT (bucket, policy_id) DO UPDATE SET
             incidents = r.incidents + excluded.incidents,
             severity_sum = r.severity_sum + excluded.severity_sum',
        target, facts)
$$;

CREATE OR REPLACE FUNCTION ops_rollup_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    cells CONSTANT TEXT := 'SELECT c.* FROM ops_new_events n, LATERAL ops_customer_cell(n) c';
BEGIN
    EXECUTE ops_rollup_sql('ops_rollup_hour', 'hour', cells);
    EXECUTE ops_rollup_sql('ops_rollup_day', 'day', cells);
    EXECUTE ops_rollup_minute_sql('ops_rollup_minute', cells);
    INSERT INTO ops_incident_facts SELECT f.* FROM ops_new_events n, LATERAL ops_incident_fact(n) f;
    EXECUTE ops_rollup_severity_sql('ops_rollup_severity_hour',
        'SELECT f.* FROM ops_new_events n, LATERAL ops_incident_fact(n) f');
    RETURN NULL;
END $$;

-- As in `…10`, and the deleted events' incident facts go with them.
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
    DELETE FROM ops_incident_facts f USING ops_old_events o
    WHERE o.event_type = 'INCIDENT_CREATED' AND f.event_id = o.event_id;
    DELETE FROM ops_rollup_severity_hour r
    USING (SELECT DISTINCT date_trunc('hour', timestamp, 'UTC') AS bucket FROM ops_old_events
           WHERE event_type = 'INCIDENT_CREATED') gone
    WHERE r.bucket = gone.bucket;
    EXECUTE ops_rollup_severity_sql('ops_rollup_severity_hour',
        'SELECT f.* FROM (SELECT DISTINCT date_trunc(''hour'', timestamp, ''UTC'') AS bucket
                          FROM ops_old_events WHERE event_type = ''INCIDENT_CREATED'') gone
         JOIN ops_incident_facts f ON f."timestamp" >= gone.bucket
                                  AND f."timestamp" < gone.bucket + interval ''1 hour''');
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ops_rollup_on_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE ops_rollup_hour, ops_rollup_day, ops_rollup_minute, ops_incident_facts,
             ops_rollup_severity_hour;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ops_rollup_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE ops_events IN SHARE MODE;
    TRUNCATE ops_rollup_hour, ops_rollup_day, ops_rollup_minute, ops_incident_facts,
             ops_rollup_severity_hour;
    EXECUTE ops_rollup_sql('ops_rollup_hour', 'hour', 'SELECT * FROM ops_customer_cells');
    EXECUTE ops_rollup_sql('ops_rollup_day', 'day', 'SELECT * FROM ops_customer_cells');
    EXECUTE ops_rollup_minute_sql('ops_rollup_minute', 'SELECT * FROM ops_customer_cells');
    INSERT INTO ops_incident_facts SELECT f.* FROM ops_events e, LATERAL ops_incident_fact(e) f;
    EXECUTE ops_rollup_severity_sql('ops_rollup_severity_hour', 'SELECT * FROM ops_incident_facts');
    INSERT INTO ops_derived_tables AS d
    SELECT t.name, t.computed_from, t.grain,
           'triggers ops_rollup_insert, _delete and _truncate on ops_events, in the writing transaction',
           now(), (SELECT max(timestamp) FROM ops_events), (SELECT count(*) FROM ops_events)
    FROM (VALUES ('ops_rollup_hour', 'ops_events through ops_customer_cell()', 'tenant × UTC hour'),
                 ('ops_rollup_day', 'ops_events through ops_customer_cell()', 'tenant × UTC day'),
                 ('ops_rollup_minute', 'ops_events through ops_customer_cell()', 'UTC minute, all tenants'),
                 ('ops_incident_facts', 'ops_events through ops_incident_fact()', 'one row per INCIDENT_CREATED event'),
                 ('ops_rollup_severity_hour', 'ops_events through ops_incident_fact()', 'policy × UTC hour, all tenants'))
         t(name, computed_from, grain)
    ON CONFLICT (name) DO UPDATE SET computed_from = excluded.computed_from, grain = excluded.grain,
        maintained_by = excluded.maintained_by, rebuilt_at = excluded.rebuilt_at,
        rebuilt_through = excluded.rebuilt_through, rebuilt_from_events = excluded.rebuilt_from_events;
END $$;

-- As in `…10`, with the incident facts (bucket: the incident's time) and the severity rollup.
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
    RETURN QUERY
        SELECT 'ops_incident_facts'::text, x."timestamp", x.tenant_id, 'missing or different in the rollup'::text
          FROM (SELECT f.* FROM ops_events e, LATERAL ops_incident_fact(e) f
                EXCEPT SELECT * FROM ops_incident_facts) x
        UNION ALL
        SELECT 'ops_incident_facts'::text, x."timestamp", x.tenant_id, 'not in a fresh computation'::text
          FROM (SELECT * FROM ops_incident_facts
                EXCEPT SELECT f.* FROM ops_events e, LATERAL ops_incident_fact(e) f) x;
    CREATE TEMP TABLE ops_rollup_fresh (LIKE ops_rollup_severity_hour INCLUDING ALL) ON COMMIT DROP;
    EXECUTE ops_rollup_severity_sql('ops_rollup_fresh',
        'SELECT f.* FROM ops_events e, LATERAL ops_incident_fact(e) f');
    RETURN QUERY
        SELECT 'ops_rollup_severity_hour'::text, x.bucket, NULL::uuid, 'missing or different in the rollup'::text
          FROM (SELECT * FROM ops_rollup_fresh EXCEPT SELECT * FROM ops_rollup_severity_hour) x
        UNION ALL
        SELECT 'ops_rollup_severity_hour'::text, x.bucket, NULL::uuid, 'not in a fresh computation'::text
          FROM (SELECT * FROM ops_rollup_severity_hour EXCEPT SELECT * FROM ops_rollup_fresh) x;
    DROP TABLE ops_rollup_fresh;
END $$;

SELECT ops_rollup_rebuild();
