-- CreateEnum
CREATE TYPE "ServerStatus" AS ENUM ('ACTIVE', 'DECOMMISSIONED');

-- CreateEnum
CREATE TYPE "TrustStatus" AS ENUM ('PENDING', 'TRUSTED', 'REVOKED', 'DENIED');

-- CreateEnum
CREATE TYPE "TrustDecisionKind" AS ENUM ('ACCEPT', 'DENY', 'REVOKE');

-- CreateEnum
CREATE TYPE "TrustEventKind" AS ENUM ('TRUST_APPROVED', 'TRUST_ENABLED', 'TRUST_DENIED', 'TRUST_REVOKED', 'SERVER_DECOMMISSIONED');

-- CreateEnum
CREATE TYPE "Role" AS ENUM ('ADMINISTRATOR', 'READ_ONLY');

-- CreateTable
CREATE TABLE "Server" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "addresses" TEXT[],
    "status" "ServerStatus" NOT NULL DEFAULT 'ACTIVE',
    "registeredAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "decommissionedAt" TIMESTAMPTZ(3),

    CONSTRAINT "Server_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "RootKey" (
    "id" UUID NOT NULL,
    "serverId" UUID NOT NULL,
    "algorithm" TEXT NOT NULL DEFAULT 'Ed25519',
    "publicKey" TEXT NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "RootKey_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "PeerTrust" (
    "id" UUID NOT NULL,
    "serverAId" UUID NOT NULL,
    "serverBId" UUID NOT NULL,
    "status" "TrustStatus" NOT NULL DEFAULT 'PENDING',
    "acceptedByA" BOOLEAN NOT NULL DEFAULT false,
    "acceptedByB" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PeerTrust_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TrustDecision" (
    "id" UUID NOT NULL,
    "peerTrustId" UUID NOT NULL,
    "serverId" UUID NOT NULL,
    "peerId" UUID NOT NULL,
    "kind" "TrustDecisionKind" NOT NULL,
    "fingerprint" TEXT NOT NULL,
    "actorId" UUID NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "TrustDecision_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "TrustEvent" (
    "id" SERIAL NOT NULL,
    "kind" "TrustEventKind" NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "peerTrustId" UUID NOT NULL,
    "serverId" UUID NOT NULL,
    "actorId" UUID NOT NULL,
    "fingerprints" TEXT[],

    CONSTRAINT "TrustEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "User" (
    "id" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "role" "Role" NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "User_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "ApiToken" (
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMPTZ(3),

    CONSTRAINT "ApiToken_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "RootKey_fingerprint_key" ON "RootKey"("fingerprint");

-- CreateIndex
CREATE INDEX "RootKey_serverId_createdAt_idx" ON "RootKey"("serverId", "createdAt");

-- CreateIndex
CREATE INDEX "PeerTrust_serverBId_idx" ON "PeerTrust"("serverBId");

-- CreateIndex
CREATE UNIQUE INDEX "PeerTrust_serverAId_serverBId_key" ON "PeerTrust"("serverAId", "serverBId");

-- CreateIndex
CREATE INDEX "TrustDecision_peerTrustId_at_idx" ON "TrustDecision"("peerTrustId", "at");

-- CreateIndex
CREATE INDEX "TrustEvent_peerTrustId_id_idx" ON "TrustEvent"("peerTrustId", "id");

-- CreateIndex
CREATE UNIQUE INDEX "User_name_key" ON "User"("name");

-- CreateIndex
CREATE UNIQUE INDEX "ApiToken_tokenHash_key" ON "ApiToken"("tokenHash");

-- CreateIndex
CREATE INDEX "ApiToken_userId_idx" ON "ApiToken"("userId");

-- AddForeignKey
ALTER TABLE "RootKey" ADD CONSTRAINT "RootKey_serverId_fkey" FOREIGN KEY ("serverId") REFERENCES "Server"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PeerTrust" ADD CONSTRAINT "PeerTrust_serverAId_fkey" FOREIGN KEY ("serverAId") REFERENCES "Server"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "PeerTrust" ADD CONSTRAINT "PeerTrust_serverBId_fkey" FOREIGN KEY ("serverBId") REFERENCES "Server"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TrustDecision" ADD CONSTRAINT "TrustDecision_peerTrustId_fkey" FOREIGN KEY ("peerTrustId") REFERENCES "PeerTrust"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TrustDecision" ADD CONSTRAINT "TrustDecision_serverId_fkey" FOREIGN KEY ("serverId") REFERENCES "Server"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TrustDecision" ADD CONSTRAINT "TrustDecision_peerId_fkey" FOREIGN KEY ("peerId") REFERENCES "Server"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TrustDecision" ADD CONSTRAINT "TrustDecision_actorId_fkey" FOREIGN KEY ("actorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TrustEvent" ADD CONSTRAINT "TrustEvent_peerTrustId_fkey" FOREIGN KEY ("peerTrustId") REFERENCES "PeerTrust"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TrustEvent" ADD CONSTRAINT "TrustEvent_serverId_fkey" FOREIGN KEY ("serverId") REFERENCES "Server"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "TrustEvent" ADD CONSTRAINT "TrustEvent_actorId_fkey" FOREIGN KEY ("actorId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ApiToken" ADD CONSTRAINT "ApiToken_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- Hand-written: Prisma does not model these.
-- A pair is stored once, with its two servers in a fixed order.
ALTER TABLE "PeerTrust" ADD CONSTRAINT "PeerTrust_ordered_pair" CHECK ("serverAId" < "serverBId");

-- The Trust History is append-only.
CREATE FUNCTION "TrustEvent_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the Trust History is append-only: % on "TrustEvent" is not allowed', TG_OP;
END;
$$;
CREATE TRIGGER "TrustEvent_append_only"
  BEFORE UPDATE OR DELETE OR TRUNCATE ON "TrustEvent"
  FOR EACH STATEMENT EXECUTE FUNCTION "TrustEvent_append_only"();
