-- RedefineTables
PRAGMA defer_foreign_keys=ON;
PRAGMA foreign_keys=OFF;
CREATE TABLE "new_sw_notifications" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "provider" TEXT NOT NULL,
    "notification_id" TEXT NOT NULL,
    "notification_type" TEXT NOT NULL,
    "subtype" TEXT,
    "environment" TEXT,
    "signed_at" DATETIME,
    "received_at" DATETIME NOT NULL,
    "raw_body" TEXT,
    "raw_sha256" TEXT,
    "compacted" BOOLEAN NOT NULL DEFAULT false,
    "payload" JSONB NOT NULL
);
INSERT INTO "new_sw_notifications" ("environment", "id", "notification_id", "notification_type", "payload", "provider", "raw_body", "received_at", "signed_at", "subtype") SELECT "environment", "id", "notification_id", "notification_type", "payload", "provider", "raw_body", "received_at", "signed_at", "subtype" FROM "sw_notifications";
DROP TABLE "sw_notifications";
ALTER TABLE "new_sw_notifications" RENAME TO "sw_notifications";
CREATE INDEX "sw_notifications_received_at_idx" ON "sw_notifications"("received_at");
CREATE INDEX "sw_notifications_received_at_id_idx" ON "sw_notifications"("received_at", "id");
CREATE INDEX "sw_notifications_compacted_received_at_idx" ON "sw_notifications"("compacted", "received_at");
CREATE INDEX "sw_notifications_signed_at_idx" ON "sw_notifications"("signed_at");
CREATE UNIQUE INDEX "sw_notifications_provider_notification_id_key" ON "sw_notifications"("provider", "notification_id");
PRAGMA foreign_keys=ON;
PRAGMA defer_foreign_keys=OFF;

-- CreateIndex
CREATE INDEX "sw_events_created_idx" ON "sw_events"("created");

-- CreateIndex
CREATE INDEX "sw_webhook_deliveries_status_updated_at_idx" ON "sw_webhook_deliveries"("status", "updated_at");
