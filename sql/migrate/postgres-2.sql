-- Schema version 1 -> 2, PostgreSQL: publish grants (docs/USERS.md). `mtop-server db migrate`
-- runs this, then sql/postgres.sql (which adds the mtop_schema table and its version row and
-- puts publish in the notify trigger's column list), in one transaction, and only when the
-- column is missing. With a constant default, PostgreSQL 11 and later add the column without
-- rewriting the rows; the table is locked only for that moment. Every user gets '' (no grants).
ALTER TABLE mtop_users ADD COLUMN publish TEXT NOT NULL DEFAULT '' CHECK (length(publish) <= 1024);
