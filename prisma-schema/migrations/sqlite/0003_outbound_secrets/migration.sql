-- AlterTable
ALTER TABLE "sw_webhook_endpoints" ADD COLUMN "failing_since" DATETIME;
ALTER TABLE "sw_webhook_endpoints" ADD COLUMN "secret_key_id" TEXT;

-- CreateTable
CREATE TABLE "sw_webhook_receipts" (
    "webhook_id" TEXT NOT NULL PRIMARY KEY,
    "received_at" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "sw_webhook_receipts_received_at_idx" ON "sw_webhook_receipts"("received_at");
