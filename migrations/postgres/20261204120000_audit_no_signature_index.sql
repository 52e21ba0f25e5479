-- A leaked URL is found by its x-presignd-id (the primary key) and confirmed by the
-- signature's fingerprint, so no index needs to hold signatures: its random keys cost
-- every commit one more page. A signature search alone reads the rows of its time window.
DROP INDEX IF EXISTS audit_events_signature;
