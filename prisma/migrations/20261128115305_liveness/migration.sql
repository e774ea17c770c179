-- AlterTable
ALTER TABLE "Server" ADD COLUMN     "heartbeatIntervalMs" INTEGER NOT NULL DEFAULT 10000;

-- Hand-added: an interval of 0 would make every server look offline.
ALTER TABLE "Server" ADD CONSTRAINT "Server_heartbeatIntervalMs_positive" CHECK ("heartbeatIntervalMs" > 0);
