-- One row per presign decision (issued or denied) and per audit query.
-- Times are UTC RFC 3339 with six fractional digits, so text order is time order.
CREATE TABLE audit_events (
    id               TEXT    PRIMARY KEY NOT NULL, -- UUIDv7, also signed into the URL as x-presignd-id
    time             TEXT    NOT NULL,
    request_id       TEXT    NOT NULL,
    outcome          TEXT    NOT NULL CHECK (outcome IN ('issued', 'denied')),
    reason           TEXT,
    issuer           TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    client_ip        TEXT,
    user_agent       TEXT,
    action           TEXT    NOT NULL,
    bucket           TEXT,
    object_key       TEXT,
    expires_at       TEXT,
    expires_in       INTEGER,
    statement        TEXT,
    signature_sha256 TEXT,                         -- hex SHA-256 of X-Amz-Signature, never the signature
    request          TEXT    NOT NULL              -- JSON of the signed options
);

CREATE INDEX audit_events_time ON audit_events (time, id);
CREATE INDEX audit_events_subject_time ON audit_events (subject, time);
CREATE INDEX audit_events_bucket_key ON audit_events (bucket, object_key);
CREATE INDEX audit_events_signature ON audit_events (signature_sha256);
