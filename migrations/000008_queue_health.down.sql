DROP INDEX IF EXISTS operations_unfinished_created_idx;
