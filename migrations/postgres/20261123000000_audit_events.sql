-- One row per presign decision (issued or denied) and per audit query.
CREATE TABLE audit_events (
    id               UUID        PRIMARY KEY,      -- UUIDv7, also signed into the URL as x-presignd-id
    time             TIMESTAMPTZ NOT NULL,
    request_id       TEXT        NOT NULL,
    outcome          TEXT        NOT NULL CHECK (outcome IN ('issued', 'denied')),
    reason           TEXT,
    issuer           TEXT        NOT NULL,
    subject          TEXT        NOT NULL,
    client_ip        TEXT,
    user_agent       TEXT,
    action           TEXT        NOT NULL,
    bucket           TEXT,
    object_key       TEXT,
    expires_at       TIMESTAMPTZ,
    expires_in       BIGINT,
    statement        TEXT,
    signature_sha256 TEXT,                         -- hex SHA-256 of X-Amz-Signature, never the signature
    request          JSONB       NOT NULL          -- the signed options
);

CREATE INDEX audit_events_time ON audit_events (time, id);
CREATE INDEX audit_events_subject_time ON audit_events (subject, time);
CREATE INDEX audit_events_bucket_key ON audit_events (bucket, object_key text_pattern_ops);
CREATE INDEX audit_events_signature ON audit_events (signature_sha256);
