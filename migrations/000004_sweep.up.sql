-- The periodic sweep (internal/deploy) deletes upload slots that no
-- deployment uses once they are of no more use, and finishes the operations
-- of deployments whose job will not run again. deployed marks the slots a
-- deployment uses (set in the transaction that creates it), so that the
-- sweep's index holds only the few others, however many deployments there
-- are.
ALTER TABLE archive_uploads ADD COLUMN deployed boolean NOT NULL DEFAULT false;
UPDATE archive_uploads u SET deployed = true
WHERE EXISTS (SELECT 1 FROM archive_deployments d WHERE d.upload_id = u.id);
DROP INDEX archive_uploads_expires_idx;
CREATE INDEX archive_uploads_unused_idx ON archive_uploads (created_at) WHERE NOT deployed;

CREATE INDEX operations_unfinished_idx ON operations (created_at) WHERE state <> 'FINISHED';
