-- 0003: streaming sessions (one head streaming from one body) and the log
-- lines their agents upload. A session's id comes from the agents (the relay
-- makes it). Rows outlive the nodes they name (a deleted node ends its
-- sessions with 'node_deleted'); housekeeping prunes ended sessions after
-- sessions.retention, their lines with them.

CREATE TABLE stream_sessions (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,   -- listing order (newest first) and ?before= paging
    id         TEXT NOT NULL UNIQUE,
    body_id    TEXT,                                -- NULL until the body reports the session
    body_name  TEXT NOT NULL DEFAULT '',            -- names as they were when the side joined
    head_id    TEXT,                                -- NULL until the head reports it
    head_name  TEXT NOT NULL DEFAULT '',
    district   TEXT NOT NULL DEFAULT '',            -- the body's (the head's until the body joins)
    venue      TEXT NOT NULL DEFAULT '',
    started_at TEXT NOT NULL,
    ended_at   TEXT,                                -- NULL while active
    end_reason TEXT CHECK (end_reason IN ('body_idle', 'head_idle', 'silence', 'node_deleted', 'stream_stopped'))
);
CREATE INDEX stream_sessions_by_end ON stream_sessions (ended_at);
CREATE INDEX stream_sessions_by_body ON stream_sessions (body_id, seq);
CREATE INDEX stream_sessions_by_head ON stream_sessions (head_id, seq);

CREATE TABLE stream_session_logs (
    seq        INTEGER PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES stream_sessions (id) ON DELETE CASCADE,
    side       TEXT NOT NULL CHECK (side IN ('body', 'head')),
    ts_ms      INTEGER NOT NULL,                    -- the agent's time of the line, ms since the epoch (UTC)
    line       TEXT NOT NULL
);
CREATE INDEX stream_session_logs_by_time ON stream_session_logs (session_id, side, ts_ms, seq);
