-- DropIndex
DROP INDEX "PeerTrust_serverBId_idx";

-- CreateIndex
CREATE INDEX "PeerTrust_serverAId_createdAt_id_idx" ON "PeerTrust"("serverAId", "createdAt", "id");

-- CreateIndex
CREATE INDEX "PeerTrust_serverBId_createdAt_id_idx" ON "PeerTrust"("serverBId", "createdAt", "id");

-- CreateIndex
CREATE INDEX "Server_registeredAt_id_idx" ON "Server"("registeredAt", "id");
