-- AlterTable
ALTER TABLE "TrustEvent" ADD COLUMN     "serverAId" UUID,
ADD COLUMN     "serverBId" UUID;

-- CreateIndex
CREATE INDEX "TrustEvent_serverAId_sequence_idx" ON "TrustEvent"("serverAId", "sequence");

-- CreateIndex
CREATE INDEX "TrustEvent_serverBId_sequence_idx" ON "TrustEvent"("serverBId", "sequence");

-- Existing events get their pair's servers. The history is append-only; this copies
-- what each entry already names (ledger.ts checks the columns against the entry).
ALTER TABLE "TrustEvent" DISABLE TRIGGER "TrustEvent_append_only";
UPDATE "TrustEvent" e SET "serverAId" = p."serverAId", "serverBId" = p."serverBId"
FROM "PeerTrust" p WHERE p."id" = e."peerTrustId";
ALTER TABLE "TrustEvent" ENABLE TRIGGER "TrustEvent_append_only";
