-- Schema version 1 -> 2, MySQL / MariaDB: publish grants (docs/USERS.md). `mtop-server db
-- migrate` runs this, then sql/mysql.sql (which adds the mtop_schema table and its version row),
-- and only when the column is missing. MySQL commits DDL at once (no transaction around it), so
-- each step checks before it acts and a migration cut short is finished by running it again.
-- MariaDB 10.3+ and MySQL 8.0 add a last column with a constant default without copying the
-- table. Every user gets '' (no grants).
ALTER TABLE mtop_users ADD COLUMN publish VARCHAR(1024) CHARACTER SET ascii NOT NULL DEFAULT '';
