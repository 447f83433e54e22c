-- The job queue's health metrics count, at every scrape, the operations not
-- yet finished and find the oldest of them: a partial index keeps that a
-- lookup of the few unfinished ones, however many finished operations the
-- table holds.
CREATE INDEX operations_unfinished_created_idx ON operations (created_at) WHERE state <> 'FINISHED';
