ALTER TABLE environments DROP COLUMN attributes;
ALTER TABLE organizations DROP COLUMN attributes;
