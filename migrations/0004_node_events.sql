-- 0004: a node's history (GET /api/v1/nodes/{id}/events) and manageable
-- enrollments (GET/DELETE /api/v1/enrollments).

-- One row per thing that happened to a node: online, offline, enroll,
-- approve, reject, roles, flags_delivered, stream_start, stream_stop.
-- detail is a JSON object (e.g. {"last_seen": "…"} on offline/online).
-- Pruned after nodes.events_retention by housekeeping.
CREATE TABLE node_events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    node_id TEXT NOT NULL,
    at      TEXT NOT NULL,
    kind    TEXT NOT NULL,
    detail  TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX node_events_by_node ON node_events (node_id, id);
CREATE INDEX node_events_by_at ON node_events (at);

-- Enrollments get a public id (the token hash stays the key and is never
-- shown) and who minted them. Rows from before get an id now.
ALTER TABLE enrollments ADD COLUMN id TEXT;
ALTER TABLE enrollments ADD COLUMN created_by TEXT NOT NULL DEFAULT '';
UPDATE enrollments SET id = 'enr-' || lower(hex(randomblob(8))) WHERE id IS NULL;
CREATE UNIQUE INDEX enrollments_by_id ON enrollments (id);
