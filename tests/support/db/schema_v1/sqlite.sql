-- Test fixture: the schema as it was before versions were recorded (version 1, no publish
-- column), kept to test `mtop-server db migrate`. Never change it.
-- MTop users, SQLite. Applied by `mtop-server db init` (init_schema()); safe to run again.
-- Times are Unix seconds (INTEGER) in every backend: expires_at NULL = never expires.
-- NULL in max_tunnels / quota_bytes / rate_limit means "no limit".
CREATE TABLE IF NOT EXISTS mtop_users (
  username      TEXT    NOT NULL PRIMARY KEY CHECK (length(username) BETWEEN 1 AND 255),
  password_hash TEXT    NOT NULL,
  enabled       INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
  expires_at    INTEGER NULL,
  max_tunnels   INTEGER NULL CHECK (max_tunnels BETWEEN 0 AND 4294967295),
  quota_bytes   INTEGER NULL CHECK (quota_bytes >= 0),
  used_bytes    INTEGER NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
  rate_limit    INTEGER NULL CHECK (rate_limit >= 0),
  updated_at    INTEGER NOT NULL DEFAULT (strftime('%s', 'now'))
);
