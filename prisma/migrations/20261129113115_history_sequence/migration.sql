-- The Trust History in commit order: each event gets a cluster-wide sequence number from
-- a one-row counter that every appending transaction updates (and so holds locked until
-- it commits). SERIAL ids were handed out at insert, not at commit: a reader paging by
-- id could skip an event whose smaller id committed after a larger one was read.

-- CreateTable
CREATE TABLE "TrustHistory" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "length" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "TrustHistory_pkey" PRIMARY KEY ("id")
);

-- Hand-written: one row, and it starts at the length of the history so far.
ALTER TABLE "TrustHistory" ADD CONSTRAINT "TrustHistory_one_row" CHECK ("id" = 1);
INSERT INTO "TrustHistory" ("id", "length") SELECT 1, count(*) FROM "TrustEvent";

-- Hand-written: existing events keep their order, numbered from 1. The append-only
-- trigger is lifted for this one numbering, inside the migration's transaction.
ALTER TABLE "TrustEvent" ADD COLUMN "sequence" BIGINT;
ALTER TABLE "TrustEvent" DISABLE TRIGGER "TrustEvent_append_only";
UPDATE "TrustEvent" e SET "sequence" = n."sequence"
  FROM (SELECT "id", row_number() OVER (ORDER BY "id") AS "sequence" FROM "TrustEvent") n
  WHERE n."id" = e."id";
ALTER TABLE "TrustEvent" ENABLE TRIGGER "TrustEvent_append_only";

-- DropIndex
DROP INDEX "TrustEvent_peerTrustId_id_idx";

-- AlterTable
ALTER TABLE "TrustEvent" DROP CONSTRAINT "TrustEvent_pkey",
DROP COLUMN "id",
ALTER COLUMN "sequence" SET NOT NULL,
ADD CONSTRAINT "TrustEvent_pkey" PRIMARY KEY ("sequence");

-- CreateIndex
CREATE INDEX "TrustEvent_peerTrustId_sequence_idx" ON "TrustEvent"("peerTrustId", "sequence");
