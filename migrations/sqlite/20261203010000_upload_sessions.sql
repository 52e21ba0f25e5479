-- Multipart upload sessions: who opened which upload, for which object, where it stands.
-- Times are Unix milliseconds (UTC).
CREATE TABLE upload_sessions (
    id            TEXT    PRIMARY KEY NOT NULL, -- UUIDv7, the audit rows' upload_id
    issuer        TEXT    NOT NULL,             -- owner: the token's iss ...
    subject       TEXT    NOT NULL,             -- ... and sub
    bucket        TEXT    NOT NULL,
    object_key    TEXT    NOT NULL,
    s3_upload_id  TEXT    NOT NULL,
    declared_size INTEGER,                      -- bytes, as declared at create
    content_type  TEXT,
    write_once    INTEGER NOT NULL,             -- complete with If-None-Match: *
    part_size     INTEGER NOT NULL,             -- advised, bytes
    state         TEXT    NOT NULL CHECK (state IN ('open', 'completed', 'aborted', 'expired')),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    ended_at      INTEGER,
    final_size    INTEGER,
    final_etag    TEXT
);

-- The sweeper's question: open sessions by expiry.
CREATE INDEX upload_sessions_open_expiry ON upload_sessions (expires_at) WHERE state = 'open';
CREATE INDEX upload_sessions_owner ON upload_sessions (subject, issuer, created_at);
CREATE INDEX upload_sessions_created ON upload_sessions (created_at);
