-- AlterTable
ALTER TABLE "sw_notifications" ADD COLUMN     "compacted" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "raw_sha256" TEXT,
ALTER COLUMN "raw_body" DROP NOT NULL;

-- CreateIndex
CREATE INDEX "sw_events_created_idx" ON "sw_events"("created");

-- CreateIndex
CREATE INDEX "sw_notifications_compacted_received_at_idx" ON "sw_notifications"("compacted", "received_at");

-- CreateIndex
CREATE INDEX "sw_notifications_signed_at_idx" ON "sw_notifications"("signed_at");

-- CreateIndex
CREATE INDEX "sw_webhook_deliveries_status_updated_at_idx" ON "sw_webhook_deliveries"("status", "updated_at");
