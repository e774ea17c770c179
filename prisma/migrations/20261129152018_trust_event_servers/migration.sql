-- AlterTable
ALTER TABLE "TrustEvent" ADD COLUMN     "serverAId" UUID,
ADD COLUMN     "serverBId" UUID;

-- CreateIndex
CREATE INDEX "TrustEvent_serverAId_sequence_idx" ON "TrustEvent"("serverAId", "sequence");

-- CreateIndex
CREATE INDEX "TrustEvent_serverBId_sequence_idx" ON "TrustEvent"("serverBId", "sequence");

-- The servers of the pair an entry names; none when it names none (or is not JSON:
-- the ledger then breaks the history at that entry, whatever these columns say).
CREATE FUNCTION "TrustEvent_entry_servers"(entry text) RETURNS uuid[] LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN ARRAY[(entry::jsonb #>> '{pair,servers,0}')::uuid, (entry::jsonb #>> '{pair,servers,1}')::uuid];
EXCEPTION WHEN others THEN
  RETURN ARRAY[NULL::uuid, NULL::uuid];
END $$;

-- Existing events get the servers their signed entry names (ledger.ts checks the
-- columns against the entry). The history is append-only; this adds a copy of it.
ALTER TABLE "TrustEvent" DISABLE TRIGGER "TrustEvent_append_only";
UPDATE "TrustEvent" SET "serverAId" = ("TrustEvent_entry_servers"("entry"))[1], "serverBId" = ("TrustEvent_entry_servers"("entry"))[2];
ALTER TABLE "TrustEvent" ENABLE TRIGGER "TrustEvent_append_only";

-- A process of the previous version, still serving during a rolling upgrade, appends
-- without these columns: they are filled from the entry, so its events stay in its
-- servers' history and the history verifies.
CREATE FUNCTION "TrustEvent_pair_servers"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW."serverAId" IS NULL AND NEW."serverBId" IS NULL THEN
    SELECT s[1], s[2] INTO NEW."serverAId", NEW."serverBId" FROM "TrustEvent_entry_servers"(NEW."entry") AS s;
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER "TrustEvent_pair_servers" BEFORE INSERT ON "TrustEvent" FOR EACH ROW EXECUTE FUNCTION "TrustEvent_pair_servers"();
