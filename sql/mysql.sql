-- MTop users, MySQL / MariaDB, schema version 2. Applied by `mtop-server db init`
-- (init_schema()) to a new database; safe to run again. A database made by an older version is
-- upgraded with `mtop-server db migrate` (sql/migrate/, docs/USERS.md "Schema versions").
-- Times are Unix seconds (BIGINT) in every backend: expires_at NULL = never expires.
-- NULL in max_tunnels / quota_bytes / rate_limit means "no limit".
-- publish: the user's publish grants (docs/USERS.md), '' = none; VARCHAR because MySQL before
-- 8.0.13 gives TEXT no default. It is the last column so that a migrated table
-- (ALTER TABLE ... ADD COLUMN appends) has the same shape as a new one.
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
  publish       VARCHAR(1024) CHARACTER SET ascii NOT NULL DEFAULT '',
  CONSTRAINT mtop_users_name_nonempty CHECK (CHAR_LENGTH(username) >= 1)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4;

-- The schema version, one row. A database without this table but with mtop_users is version 1.
CREATE TABLE IF NOT EXISTS mtop_schema (version INT NOT NULL) ENGINE = InnoDB;
INSERT INTO mtop_schema (version) SELECT 2 FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM mtop_schema);
