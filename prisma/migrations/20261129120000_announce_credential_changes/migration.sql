-- A revoked token and a user's changed role are announced on the change channel
-- (src/db/events.ts, CHANNEL) by the transaction that makes the change, whatever makes
-- it: `peertrust token revoke`, or SQL. Every server then ends the subscriptions and
-- connections the token keeps open.
CREATE FUNCTION "announce_credentials_changed"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- TG_ARGV[0]: the column that holds the user's id.
  PERFORM pg_notify(
    'peertrust_changes',
    json_build_object('kind', 'credentialsChanged', 'userId', to_jsonb(NEW) ->> TG_ARGV[0])::text
  );
  RETURN NULL;
END;
$$;

CREATE TRIGGER "ApiToken_revoked"
  AFTER UPDATE OF "revokedAt" ON "ApiToken"
  FOR EACH ROW WHEN (OLD."revokedAt" IS DISTINCT FROM NEW."revokedAt")
  EXECUTE FUNCTION "announce_credentials_changed"('userId');

CREATE TRIGGER "User_role_changed"
  AFTER UPDATE OF "role" ON "User"
  FOR EACH ROW WHEN (OLD."role" IS DISTINCT FROM NEW."role")
  EXECUTE FUNCTION "announce_credentials_changed"('id');
