-- 0001: the initial schema. Times are RFC 3339 UTC text; JSON columns hold
-- compact JSON text. Secrets are never stored: only keyed hashes.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

CREATE TABLE roles (
    name        TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    recipe      TEXT NOT NULL DEFAULT '{}'          -- JSON object
);

CREATE TABLE nodes (
    id               TEXT PRIMARY KEY,
    token_hash       BLOB UNIQUE,                   -- keyed BLAKE2b of the node token; NULL once revoked
    name             TEXT NOT NULL DEFAULT '',
    hostname         TEXT NOT NULL DEFAULT '',
    os               TEXT NOT NULL DEFAULT '',
    arch             TEXT NOT NULL DEFAULT '',
    version          TEXT NOT NULL DEFAULT '',
    owner            TEXT NOT NULL DEFAULT '',
    district         TEXT NOT NULL DEFAULT '',
    venue            TEXT NOT NULL DEFAULT '',
    roles            TEXT NOT NULL DEFAULT '[]',    -- JSON array of role names
    approval         TEXT NOT NULL DEFAULT 'pending'
                     CHECK (approval IN ('pending', 'approved', 'rejected')),
    enrolled_at      TEXT,
    last_seen        TEXT,
    ip               TEXT NOT NULL DEFAULT '',
    wireguard_ip     TEXT NOT NULL DEFAULT '',
    lan_ip           TEXT NOT NULL DEFAULT '',
    provider_status  TEXT NOT NULL DEFAULT '',
    stream_status    TEXT NOT NULL DEFAULT '',
    drain            INTEGER NOT NULL DEFAULT 0,
    flag_update_node      INTEGER NOT NULL DEFAULT 0,
    flag_update_services  INTEGER NOT NULL DEFAULT 0,
    flag_reprovision      INTEGER NOT NULL DEFAULT 0,
    flags_generation INTEGER NOT NULL DEFAULT 0,
    diagnostics      TEXT NOT NULL DEFAULT '{}',    -- JSON object of strings
    extra            TEXT NOT NULL DEFAULT '{}'     -- fields imported from nodes.yaml that have no column
);

CREATE TABLE heads (
    node_id             TEXT PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE,
    status              TEXT NOT NULL DEFAULT 'idle',
    diagnostics         TEXT NOT NULL DEFAULT '{}',
    assigned_body_id    TEXT,
    app_id              TEXT NOT NULL DEFAULT '',
    allowed_experiences TEXT NOT NULL DEFAULT '[]',
    updated_at          TEXT
);

CREATE TABLE enrollments (
    token_hash   BLOB PRIMARY KEY,
    name         TEXT NOT NULL DEFAULT '',
    owner        TEXT NOT NULL DEFAULT '',
    os           TEXT NOT NULL DEFAULT '',
    auto_approve INTEGER NOT NULL DEFAULT 0,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    used_at      TEXT,
    node_id      TEXT
);

CREATE TABLE admin_tokens (
    id         TEXT PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    label      TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    revoked_at TEXT
);

CREATE TABLE exec (
    id           TEXT PRIMARY KEY,
    seq          INTEGER NOT NULL UNIQUE,           -- FIFO order across restarts
    node_id      TEXT NOT NULL,
    command      TEXT NOT NULL,
    timeout_s    INTEGER NOT NULL,
    status       TEXT NOT NULL
                 CHECK (status IN ('queued', 'running', 'done', 'failed', 'timeout', 'canceled')),
    submitted_at TEXT NOT NULL,
    submitted_by TEXT NOT NULL DEFAULT '',
    started_at   TEXT,
    finished_at  TEXT,
    exit_code    INTEGER,
    stdout       TEXT,
    stderr       TEXT,
    duration_ms  INTEGER,
    truncated    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX exec_by_node ON exec (node_id, seq);
CREATE INDEX exec_by_finished ON exec (finished_at);

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,                           -- "admin:config", "admin:<token id>", "session:<id>"
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_by_target ON audit (target, id);
