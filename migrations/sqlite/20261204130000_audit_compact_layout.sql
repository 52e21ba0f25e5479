-- The compact layout: ids as 16 bytes, times as integer microseconds since the Unix epoch
-- (UTC), the signature's fingerprint as its 32 bytes. A row and its index entries shrink
-- by about a third, so a batch dirties fewer pages and more of the indexes stay in cache.
-- Rows are copied over oldest first, so that rowid order is time order as for new rows.
CREATE TABLE audit_events_compact (
    id               BLOB    PRIMARY KEY NOT NULL, -- UUIDv7 (16 bytes), the URL's x-presignd-id
    time             INTEGER NOT NULL,             -- µs since 1970-01-01T00:00:00Z
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
    expires_at       INTEGER,                      -- µs since the epoch
    expires_in       INTEGER,
    statement        TEXT,
    signature_sha256 BLOB,                         -- SHA-256 of X-Amz-Signature (32 bytes), never the signature
    request          TEXT    NOT NULL,             -- JSON of the signed options
    link_id          BLOB,
    upload_id        BLOB
);

INSERT INTO audit_events_compact
SELECT unhex(replace(id, '-', '')),
       unixepoch(substr(time, 1, 19)) * 1000000 + CAST(substr(time, 21, 6) AS INTEGER),
       request_id, outcome, reason, issuer, subject, client_ip, user_agent, action, bucket,
       object_key,
       unixepoch(substr(expires_at, 1, 19)) * 1000000 + CAST(substr(expires_at, 21, 6) AS INTEGER),
       expires_in, statement, unhex(signature_sha256), request,
       unhex(replace(link_id, '-', '')), unhex(replace(upload_id, '-', ''))
FROM audit_events
ORDER BY time, id;

DROP TABLE audit_events;
ALTER TABLE audit_events_compact RENAME TO audit_events;

CREATE INDEX audit_events_time ON audit_events (time, id);
CREATE INDEX audit_events_subject_time ON audit_events (subject, time);
CREATE INDEX audit_events_link ON audit_events (link_id, time) WHERE link_id IS NOT NULL;
CREATE INDEX audit_events_upload ON audit_events (upload_id, time) WHERE upload_id IS NOT NULL;
