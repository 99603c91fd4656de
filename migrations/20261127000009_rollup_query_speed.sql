-- Why (1): the rollups' counts were BIGINT, and PostgreSQL sums BIGINT through NUMERIC, which made
-- the pages' aggregates over hundreds of thousands of rollup rows several times slower than
-- needed. A tenant's count in one hour or day fits an INT by far, and sum(INT) is a BIGINT.
-- The definition is otherwise unchanged.
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
    last_api_call TIMESTAMPTZ, last_investigation TIMESTAMPTZ, last_export TIMESTAMPTZ)
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
           CASE WHEN e.event_type = 'EXPORT_GENERATED' THEN e.timestamp END
    WHERE e.tenant_id <> '00000000-0000-0000-0000-000000000000'
      AND coalesce(e.metadata->>'source', '') <> 'operator'
$$;

-- Every customer event's cell: what queries read for the raw edges of a window.
CREATE VIEW ops_customer_cells AS
SELECT c.* FROM ops_events e, LATERAL ops_customer_cell(e) c;

ALTER TABLE ops_rollup_hour
    ALTER COLUMN events TYPE INT,
    ALTER COLUMN api_calls TYPE INT,
    ALTER COLUMN llm_calls TYPE INT,
    ALTER COLUMN llm_failures TYPE INT,
    ALTER COLUMN incidents TYPE INT,
    ALTER COLUMN views TYPE INT,
    ALTER COLUMN replays TYPE INT,
    ALTER COLUMN exports TYPE INT,
    ALTER COLUMN certs TYPE INT;

ALTER TABLE ops_rollup_day
    ALTER COLUMN events TYPE INT,
    ALTER COLUMN api_calls TYPE INT,
    ALTER COLUMN llm_calls TYPE INT,
    ALTER COLUMN llm_failures TYPE INT,
    ALTER COLUMN incidents TYPE INT,
    ALTER COLUMN views TYPE INT,
    ALTER COLUMN replays TYPE INT,
    ALTER COLUMN exports TYPE INT,
    ALTER COLUMN certs TYPE INT;

-- Why (2): settings for every session of this database (the pool sets the same per connection): the page
-- queries' plans depend on their parameters (an optional tenant, the window pieces), so the
-- generic plan PostgreSQL switches to after five runs of a prepared statement scans whole
-- tables; and 4 MB of work_mem makes their aggregates spill to disk.
DO $$
BEGIN
    EXECUTE format('ALTER DATABASE %I SET plan_cache_mode = force_custom_plan', current_database());
    EXECUTE format('ALTER DATABASE %I SET work_mem = %L', current_database(), '32MB');
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'plan_cache_mode and work_mem stay as configured: %', SQLERRM;
END $$;
