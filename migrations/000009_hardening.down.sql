DROP TABLE archive_upload_chunks;
ALTER TABLE archive_uploads DROP COLUMN claimed_at;
DROP TRIGGER environments_settle_gateway_host ON environments;
DROP FUNCTION keyplane_settle_gateway_host();
DROP INDEX environments_gateway_host_key;
DROP TABLE gateway_host_collisions;
ALTER TABLE environments DROP COLUMN gateway_host_disputed, DROP COLUMN gateway_host;
