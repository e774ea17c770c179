-- AlterTable
ALTER TABLE "Server" ADD COLUMN     "stoppedAt" TIMESTAMPTZ(3);
