DROP INDEX operations_unfinished_idx;
DROP INDEX archive_uploads_unused_idx;
ALTER TABLE archive_uploads DROP COLUMN deployed;
CREATE INDEX archive_uploads_expires_idx ON archive_uploads (expires_at) WHERE uploaded_at IS NULL;
