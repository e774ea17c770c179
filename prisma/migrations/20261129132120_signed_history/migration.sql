-- A verifiable Trust History: decisions signed by the deciding server's root key, each
-- event kept as the entry its Merkle tree hashes, the tree's stored hashes, signed
-- checkpoints and witnesses' cosignatures; token records signed by their issuers; key
-- rotations endorsed by the key before. What was recorded before is kept, as legacy
-- entries the servers take as they find them at the upgrade.

-- AlterEnum
ALTER TYPE "TrustDecisionKind" ADD VALUE 'DECOMMISSION';

-- AlterEnum
ALTER TYPE "TrustEventKind" ADD VALUE 'KEY_ROTATED';
ALTER TYPE "TrustEventKind" ADD VALUE 'TAMPERING_DETECTED';
ALTER TYPE "TrustEventKind" ADD VALUE 'TOKEN_ISSUED';
ALTER TYPE "TrustEventKind" ADD VALUE 'TOKEN_REVOKED';

-- DropForeignKey
ALTER TABLE "TrustEvent" DROP CONSTRAINT "TrustEvent_peerTrustId_fkey";

-- AlterTable
ALTER TABLE "ApiToken" ADD COLUMN     "signatures" JSONB,
ADD COLUMN     "statement" TEXT;

-- AlterTable
ALTER TABLE "PeerTrust" ADD COLUMN     "lastSequence" BIGINT NOT NULL DEFAULT 0;

-- Hand-written: each pair's last event so far.
UPDATE "PeerTrust" p SET "lastSequence" = e."last"
  FROM (SELECT "peerTrustId", max("sequence") AS "last" FROM "TrustEvent" GROUP BY "peerTrustId") e
  WHERE e."peerTrustId" = p."id";

-- AlterTable
ALTER TABLE "RootKey" ADD COLUMN     "retiredAt" TIMESTAMPTZ(3),
ADD COLUMN     "rotationSignatures" JSONB,
ADD COLUMN     "rotationStatement" TEXT;

-- AlterTable
ALTER TABLE "Server" ADD COLUMN     "possibleReplacementOfId" UUID;

-- AlterTable
ALTER TABLE "TrustDecision" ADD COLUMN     "signature" TEXT,
ADD COLUMN     "statement" TEXT;

-- AlterTable (hand-completed: existing events become legacy entries, in the form
-- src/trust/entries.ts reads; the append-only trigger is lifted for this one filling)
ALTER TABLE "TrustEvent" ADD COLUMN     "entry" TEXT,
ALTER COLUMN "peerTrustId" DROP NOT NULL;
ALTER TABLE "TrustEvent" DISABLE TRIGGER "TrustEvent_append_only";
-- Written out as src/trust/entries.ts formats an entry (JSON.stringify: no spaces); no
-- value here needs escaping (ids, kinds, hex fingerprints, an ISO time).
UPDATE "TrustEvent" e SET "entry" =
  '{"type":"peertrust/event/v1","sequence":' || e."sequence" ||
  ',"kind":"' || e."kind" ||
  '","time":"' || to_char(e."at" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') ||
  '","pair":{"id":"' || p."id" || '","servers":["' || p."serverAId" || '","' || p."serverBId" || '"]}' ||
  ',"server":"' || e."serverId" || '","actor":"' || e."actorId" ||
  '","fingerprints":' || to_json(coalesce(e."fingerprints", '{}'))::text ||
  ',"legacy":true}'
  FROM "PeerTrust" p WHERE p."id" = e."peerTrustId";
ALTER TABLE "TrustEvent" ENABLE TRIGGER "TrustEvent_append_only";
ALTER TABLE "TrustEvent" ALTER COLUMN "entry" SET NOT NULL;

-- AlterTable (hand-completed: the log's name, and how much of it is legacy)
ALTER TABLE "TrustHistory" ADD COLUMN     "legacyLength" BIGINT NOT NULL DEFAULT 0,
ADD COLUMN     "origin" TEXT NOT NULL DEFAULT ('peertrust/' || gen_random_uuid());
ALTER TABLE "TrustHistory" ALTER COLUMN "origin" DROP DEFAULT;
UPDATE "TrustHistory" SET "legacyLength" = "length";

-- CreateTable
CREATE TABLE "TrustLogHash" (
    "index" BIGINT NOT NULL,
    "hash" BYTEA NOT NULL,

    CONSTRAINT "TrustLogHash_pkey" PRIMARY KEY ("index")
);

-- CreateTable
CREATE TABLE "TrustCheckpoint" (
    "size" BIGINT NOT NULL,
    "note" TEXT NOT NULL,
    "serverId" UUID NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TrustCheckpoint_pkey" PRIMARY KEY ("size")
);

-- CreateTable
CREATE TABLE "TrustCosignature" (
    "size" BIGINT NOT NULL,
    "witnessId" UUID NOT NULL,
    "line" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TrustCosignature_pkey" PRIMARY KEY ("size","witnessId")
);

-- AddForeignKey
ALTER TABLE "Server" ADD CONSTRAINT "Server_possibleReplacementOfId_fkey" FOREIGN KEY ("possibleReplacementOfId") REFERENCES "Server"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TrustEvent" ADD CONSTRAINT "TrustEvent_peerTrustId_fkey" FOREIGN KEY ("peerTrustId") REFERENCES "PeerTrust"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- Hand-written: the user automatic events name as their actor (a detected tampering).
-- Its name cannot be a token's: user names are letters, digits, ".", "_", "@" and "-".
INSERT INTO "User" ("id", "name", "role") VALUES ('00000000-0000-4000-8000-000000000000', '(peertrust)', 'READ_ONLY')
  ON CONFLICT DO NOTHING;

-- Hand-written: the log's stored hashes, checkpoints and cosignatures are append-only
-- like the history itself. (A guard against mistakes: what guards against an attacker
-- is that the servers verify the history, see docs/design.md.)
CREATE FUNCTION "append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the Trust History is append-only: % on "%" is not allowed', TG_OP, TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER "TrustLogHash_append_only" BEFORE UPDATE OR DELETE OR TRUNCATE ON "TrustLogHash"
  FOR EACH STATEMENT EXECUTE FUNCTION "append_only"();
CREATE TRIGGER "TrustCheckpoint_append_only" BEFORE UPDATE OR DELETE OR TRUNCATE ON "TrustCheckpoint"
  FOR EACH STATEMENT EXECUTE FUNCTION "append_only"();
CREATE TRIGGER "TrustCosignature_append_only" BEFORE UPDATE OR DELETE OR TRUNCATE ON "TrustCosignature"
  FOR EACH STATEMENT EXECUTE FUNCTION "append_only"();
