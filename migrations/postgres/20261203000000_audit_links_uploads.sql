-- Rows of the share-link and multipart flows name their link or upload session.
-- Partial indexes: the many rows that name neither cost nothing.
ALTER TABLE audit_events ADD COLUMN link_id UUID;
ALTER TABLE audit_events ADD COLUMN upload_id UUID;
CREATE INDEX audit_events_link ON audit_events (link_id, time) WHERE link_id IS NOT NULL;
CREATE INDEX audit_events_upload ON audit_events (upload_id, time) WHERE upload_id IS NOT NULL;
