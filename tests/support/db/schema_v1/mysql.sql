-- Test fixture: the schema as it was before versions were recorded (version 1, no publish
-- column), kept to test `mtop-server db migrate`. Never change it.
-- MTop users, MySQL / MariaDB. Applied by `mtop-server db init` (init_schema()); safe to run
-- again. Times are Unix seconds (BIGINT) in every backend: expires_at NULL = never expires.
-- NULL in max_tunnels / quota_bytes / rate_limit means "no limit".
-- utf8mb4_bin: user names compare byte for byte, as in SQLite and PostgreSQL (the default
-- collation would make "Alice" and "alice" the same user).
CREATE TABLE IF NOT EXISTS mtop_users (
  username      VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL PRIMARY KEY,
  password_hash TEXT     NOT NULL,
  enabled       BOOLEAN  NOT NULL DEFAULT TRUE,
  expires_at    BIGINT   NULL,
  max_tunnels   INT UNSIGNED    NULL,
  quota_bytes   BIGINT UNSIGNED NULL,
  used_bytes    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  rate_limit    BIGINT UNSIGNED NULL,
  updated_at    BIGINT   NOT NULL DEFAULT (UNIX_TIMESTAMP()),
  CONSTRAINT mtop_users_name_nonempty CHECK (CHAR_LENGTH(username) >= 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;
