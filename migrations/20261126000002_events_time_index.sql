-- Why: the Events page and GET /api/v1/ops/events list the whole stream newest first with
-- keyset paging on (timestamp, event_id); without this index every unfiltered page would sort
-- the entire table.
CREATE INDEX idx_events_time ON ops_events(timestamp DESC, event_id DESC);
