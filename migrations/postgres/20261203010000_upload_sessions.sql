-- Multipart upload sessions: who opened which upload, for which object, where it stands.
CREATE TABLE upload_sessions (
    id            UUID        PRIMARY KEY,      -- UUIDv7, the audit rows' upload_id
    issuer        TEXT        NOT NULL,         -- owner: the token's iss ...
    subject       TEXT        NOT NULL,         -- ... and sub
    bucket        TEXT        NOT NULL,
    object_key    TEXT        NOT NULL,
    s3_upload_id  TEXT        NOT NULL,
    declared_size BIGINT,                       -- bytes, as declared at create
    content_type  TEXT,
    write_once    BOOLEAN     NOT NULL,         -- complete with If-None-Match: *
    part_size     BIGINT      NOT NULL,         -- advised, bytes
    state         TEXT        NOT NULL CHECK (state IN ('open', 'completed', 'aborted', 'expired')),
    created_at    TIMESTAMPTZ NOT NULL,
    expires_at    TIMESTAMPTZ NOT NULL,
    ended_at      TIMESTAMPTZ,
    final_size    BIGINT,
    final_etag    TEXT
);

-- The sweeper's question: open sessions by expiry.
CREATE INDEX upload_sessions_open_expiry ON upload_sessions (expires_at) WHERE state = 'open';
CREATE INDEX upload_sessions_owner ON upload_sessions (subject, issuer, created_at);
CREATE INDEX upload_sessions_created ON upload_sessions (created_at);
