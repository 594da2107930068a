-- Schema version 1 -> 2, SQLite: publish grants (docs/USERS.md). `mtop-server db migrate` runs
-- this, then sql/sqlite.sql (which adds the mtop_schema table and its version row), in one
-- transaction, and only when the column is missing. ADD COLUMN only changes the table's
-- definition: the rows are not rewritten, and every user gets '' (no grants).
ALTER TABLE mtop_users ADD COLUMN publish TEXT NOT NULL DEFAULT '' CHECK (length(publish) <= 1024);
