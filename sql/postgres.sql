-- MTop users, PostgreSQL, schema version 2. Applied by `mtop-server db init` (init_schema()) to
-- a new database; safe to run again. A database made by an older version is upgraded with
-- `mtop-server db migrate` (sql/migrate/, docs/USERS.md "Schema versions").
-- Times are Unix seconds (BIGINT) in every backend: expires_at NULL = never expires.
-- NULL in max_tunnels / quota_bytes / rate_limit means "no limit".
-- publish: the user's publish grants (docs/USERS.md), '' = none. It is the last column so that
-- a migrated table (ALTER TABLE ... ADD COLUMN appends) has the same shape as a new one.
CREATE TABLE IF NOT EXISTS mtop_users (
  username      VARCHAR(255) NOT NULL PRIMARY KEY CHECK (length(username) >= 1),
  password_hash TEXT         NOT NULL,
  enabled       BOOLEAN      NOT NULL DEFAULT TRUE,
  expires_at    BIGINT       NULL,
  max_tunnels   BIGINT       NULL CHECK (max_tunnels BETWEEN 0 AND 4294967295),
  quota_bytes   BIGINT       NULL CHECK (quota_bytes >= 0),
  used_bytes    BIGINT       NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
  rate_limit    BIGINT       NULL CHECK (rate_limit >= 0),
  updated_at    BIGINT       NOT NULL DEFAULT (EXTRACT(EPOCH FROM now())::BIGINT),
  publish       TEXT         NOT NULL DEFAULT '' CHECK (length(publish) <= 1024)
);

-- The schema version, one row. A database without this table but with mtop_users is version 1.
CREATE TABLE IF NOT EXISTS mtop_schema (version INTEGER NOT NULL);
INSERT INTO mtop_schema (version) SELECT 2 WHERE NOT EXISTS (SELECT 1 FROM mtop_schema);

-- Change notifications (optional, PostgreSQL only): servers started with LISTEN enabled drop a
-- user from their cache as soon as an admin change commits, instead of after the cache TTL.
-- Usage write-back only touches used_bytes, which is not in the column list: it stays silent.
CREATE OR REPLACE FUNCTION mtop_users_notify() RETURNS trigger LANGUAGE plpgsql AS $mtop$
BEGIN
  IF TG_OP = 'DELETE' THEN
    PERFORM pg_notify('mtop_users', OLD.username);
  ELSE
    PERFORM pg_notify('mtop_users', NEW.username);
  END IF;
  RETURN NULL;
END
$mtop$;
DROP TRIGGER IF EXISTS mtop_users_notify ON mtop_users;
CREATE TRIGGER mtop_users_notify
  AFTER INSERT OR DELETE
     OR UPDATE OF username, password_hash, enabled, expires_at, max_tunnels, quota_bytes,
                  rate_limit, publish
  ON mtop_users FOR EACH ROW EXECUTE FUNCTION mtop_users_notify();
