-- MTop users, SQLite, schema version 2. Applied by `mtop-server db init` (init_schema()) to a
-- new database; safe to run again. A database made by an older version is upgraded with
-- `mtop-server db migrate` (sql/migrate/, docs/USERS.md "Schema versions").
-- Times are Unix seconds (INTEGER) in every backend: expires_at NULL = never expires.
-- NULL in max_tunnels / quota_bytes / rate_limit means "no limit".
-- publish: the user's publish grants (docs/USERS.md), '' = none. It is the last column so that
-- a migrated table (ALTER TABLE ... ADD COLUMN appends) has the same shape as a new one.
CREATE TABLE IF NOT EXISTS mtop_users (
  username      TEXT    NOT NULL PRIMARY KEY CHECK (length(username) BETWEEN 1 AND 255),
  password_hash TEXT    NOT NULL,
  enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  expires_at    INTEGER NULL,
  max_tunnels   INTEGER NULL CHECK (max_tunnels BETWEEN 0 AND 4294967295),
  quota_bytes   INTEGER NULL CHECK (quota_bytes >= 0),
  used_bytes    INTEGER NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
  rate_limit    INTEGER NULL CHECK (rate_limit >= 0),
  updated_at    INTEGER NOT NULL DEFAULT (strftime('%s', 'now')),
  publish       TEXT    NOT NULL DEFAULT '' CHECK (length(publish) <= 1024)
);

-- The schema version, one row. A database without this table but with mtop_users is version 1.
CREATE TABLE IF NOT EXISTS mtop_schema (version INTEGER NOT NULL);
INSERT INTO mtop_schema (version) SELECT 2 WHERE NOT EXISTS (SELECT 1 FROM mtop_schema);
