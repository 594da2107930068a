-- Test fixture: the schema as it was before versions were recorded (version 1, no publish
-- column), kept to test `mtop-server db migrate`. Never change it.
-- MTop users, PostgreSQL. Applied by `mtop-server db init` (init_schema()); safe to run again.
-- Times are Unix seconds (BIGINT) in every backend: expires_at NULL = never expires.
-- NULL in max_tunnels / quota_bytes / rate_limit means "no limit".
CREATE TABLE IF NOT EXISTS mtop_users (
  username      VARCHAR(255) NOT NULL PRIMARY KEY CHECK (length(username) >= 1),
  password_hash TEXT         NOT NULL,
  enabled       BOOLEAN      NOT NULL DEFAULT TRUE,
  expires_at    BIGINT       NULL,
  max_tunnels   BIGINT       NULL CHECK (max_tunnels BETWEEN 0 AND 4294967295),
  quota_bytes   BIGINT       NULL CHECK (quota_bytes >= 0),
  used_bytes    BIGINT       NOT NULL DEFAULT 0 CHECK (used_bytes >= 0),
  rate_limit    BIGINT       NULL CHECK (rate_limit >= 0),
  updated_at    BIGINT       NOT NULL DEFAULT (EXTRACT(EPOCH FROM now())::BIGINT)
);

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
                  rate_limit
  ON mtop_users FOR EACH ROW EXECUTE FUNCTION mtop_users_notify();
