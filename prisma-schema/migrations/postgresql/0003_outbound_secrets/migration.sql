-- AlterTable
ALTER TABLE "sw_webhook_endpoints" ADD COLUMN     "failing_since" TIMESTAMP(3),
ADD COLUMN     "secret_key_id" TEXT;

-- CreateTable
CREATE TABLE "sw_webhook_receipts" (
    "webhook_id" TEXT NOT NULL,
    "received_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "sw_webhook_receipts_pkey" PRIMARY KEY ("webhook_id")
);

-- CreateIndex
CREATE INDEX "sw_webhook_receipts_received_at_idx" ON "sw_webhook_receipts"("received_at");
