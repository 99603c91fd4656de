-- Why: the event explorer's histogram counted the window's events per type and UTC hour with a
-- GROUP BY over the events themselves: a day is ~333,000 rows at 10 million events, ~0.3 s a
-- view, and the load phase asks for it with every eighth page view. `ops_rollup_type_hour` keeps
-- every event's count per type and UTC hour over all tenants (the explorer shows every event, so
-- nothing is left out): a day's histogram is ~300 of its rows and the events of the window's
-- partial hours. A histogram of one tenant still reads that tenant's events.
-- Lineage as for the other derived tables (insert, delete and truncate triggers; rebuild; check).

CREATE TABLE ops_rollup_type_hour (
    bucket TIMESTAMPTZ NOT NULL,
    event_type TEXT NOT NULL,
    events INT NOT NULL,
    PRIMARY KEY (bucket, event_type)
);

-- Adds the counts of `events` (a query over rows shaped like ops_events) to `target`.
CREATE FUNCTION ops_rollup_type_sql(target TEXT, events TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT format(
        'INSERT INTO %I AS r
         SELECT date_trunc(''hour'', e.timestamp, ''UTC''), e.event_type, count(*)::int
         FROM (%s) e
         GROUP BY 1, 2 ORDER BY 1, 2
         ON CONFLICT (bucket, event_type) DO UPDATE SET events = r.events + excluded.events',
        target, events)
$$;

-- As in `…12`, with the type counts.
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
    INSERT INTO ops_call_causes SELECT c.* FROM ops_new_events n, LATERAL ops_call_cause(n) c;
    EXECUTE ops_rollup_type_sql('ops_rollup_type_hour', 'SELECT * FROM ops_new_events');
    RETURN NULL;
END $$;

-- As in `…12`; the type counts of every hour a delete touched are counted again.
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
    DELETE FROM ops_call_causes c USING ops_old_events o WHERE c.event_id = o.event_id;
    DELETE FROM ops_rollup_type_hour r
    USING (SELECT DISTINCT date_trunc('hour', timestamp, 'UTC') AS bucket FROM ops_old_events) gone
    WHERE r.bucket = gone.bucket;
    EXECUTE ops_rollup_type_sql('ops_rollup_type_hour',
        'SELECT e.* FROM (SELECT DISTINCT date_trunc(''hour'', timestamp, ''UTC'') AS bucket
                          FROM ops_old_events) gone
         JOIN ops_events e ON e.timestamp >= gone.bucket AND e.timestamp < gone.bucket + interval ''1 hour''');
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ops_rollup_on_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE ops_rollup_hour, ops_rollup_day, ops_rollup_minute, ops_incident_facts,
             ops_rollup_severity_hour, ops_call_causes, ops_rollup_type_hour;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ops_rollup_rebuild() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    LOCK TABLE ops_events IN SHARE MODE;
    TRUNCATE ops_rollup_hour, ops_rollup_day, ops_rollup_minute, ops_incident_facts,
             ops_rollup_severity_hour, ops_call_causes, ops_rollup_type_hour;
    EXECUTE ops_rollup_sql('ops_rollup_hour', 'hour', 'SELECT * FROM ops_customer_cells');
    EXECUTE ops_rollup_sql('ops_rollup_day', 'day', 'SELECT * FROM ops_customer_cells');
    EXECUTE ops_rollup_minute_sql('ops_rollup_minute', 'SELECT * FROM ops_customer_cells');
    INSERT INTO ops_incident_facts SELECT f.* FROM ops_events e, LATERAL ops_incident_fact(e) f;
    EXECUTE ops_rollup_severity_sql('ops_rollup_severity_hour', 'SELECT * FROM ops_incident_facts');
    INSERT INTO ops_call_causes SELECT c.* FROM ops_events e, LATERAL ops_call_cause(e) c;
    EXECUTE ops_rollup_type_sql('ops_rollup_type_hour', 'SELECT * FROM ops_events');
    INSERT INTO ops_derived_tables AS d
    SELECT t.name, t.computed_from, t.grain,
           'triggers ops_rollup_insert, _delete and _truncate on ops_events, in the writing transaction',
           now(), (SELECT max(timestamp) FROM ops_events), (SELECT count(*) FROM ops_events)
    FROM (VALUES ('ops_rollup_hour', 'ops_events through ops_customer_cell()', 'tenant × UTC hour'),
                 ('ops_rollup_day', 'ops_events through ops_customer_cell()', 'tenant × UTC day'),
                 ('ops_rollup_minute', 'ops_events through ops_customer_cell()', 'UTC minute, all tenants'),
                 ('ops_incident_facts', 'ops_events through ops_incident_fact()', 'one row per INCIDENT_CREATED event'),
                 ('ops_rollup_severity_hour', 'ops_events through ops_incident_fact()', 'policy × UTC hour, all tenants'),
                 ('ops_call_causes', 'ops_events through ops_call_cause()', 'one row per LLM failure or cost limit on a call'),
                 ('ops_rollup_type_hour', 'ops_events, every event', 'event type × UTC hour, all tenants'))
         t(name, computed_from, grain)
    ON CONFLICT (name) DO UPDATE SET computed_from = excluded.computed_from, grain = excluded.grain,
        maintained_by = excluded.maintained_by, rebuilt_at = excluded.rebuilt_at,
        rebuilt_through = excluded.rebuilt_through, rebuilt_from_events = excluded.rebuilt_from_events;
END $$;

-- As in `…12`, with the type counts.
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
    RETURN QUERY
        SELECT 'ops_call_causes'::text, x."timestamp", x.tenant_id, 'missing or different in the rollup'::text
          FROM (SELECT c.* FROM ops_events e, LATERAL ops_call_cause(e) c
                EXCEPT SELECT * FROM ops_call_causes) x
        UNION ALL
        SELECT 'ops_call_causes'::text, x."timestamp", x.tenant_id, 'not in a fresh computation'::text
          FROM (SELECT * FROM ops_call_causes
                EXCEPT SELECT c.* FROM ops_events e, LATERAL ops_call_cause(e) c) x;
    CREATE TEMP TABLE ops_rollup_fresh (LIKE ops_rollup_type_hour INCLUDING ALL) ON COMMIT DROP;
    EXECUTE ops_rollup_type_sql('ops_rollup_fresh', 'SELECT * FROM ops_events');
    RETURN QUERY
        SELECT 'ops_rollup_type_hour'::text, x.bucket, NULL::uuid, 'missing or different in the rollup'::text
          FROM (SELECT * FROM ops_rollup_fresh EXCEPT SELECT * FROM ops_rollup_type_hour) x
        UNION ALL
        SELECT 'ops_rollup_type_hour'::text, x.bucket, NULL::uuid, 'not in a fresh computation'::text
          FROM (SELECT * FROM ops_rollup_type_hour EXCEPT SELECT * FROM ops_rollup_fresh) x;
    DROP TABLE ops_rollup_fresh;
END $$;

SELECT ops_rollup_rebuild();
