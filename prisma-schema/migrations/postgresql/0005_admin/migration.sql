-- CreateTable
CREATE TABLE "sw_admin_audit" (
    "id" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "actor" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "target" TEXT NOT NULL,
    "result" TEXT NOT NULL,

    CONSTRAINT "sw_admin_audit_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "sw_admin_audit_at_id_idx" ON "sw_admin_audit"("at", "id");

-- CreateIndex
CREATE INDEX "sw_notifications_received_at_id_idx" ON "sw_notifications"("received_at", "id");

-- CreateIndex
CREATE INDEX "sw_orders_created_at_id_idx" ON "sw_orders"("created_at", "id");

-- CreateIndex
CREATE INDEX "sw_webhook_deliveries_event_id_idx" ON "sw_webhook_deliveries"("event_id");

-- CreateIndex
CREATE INDEX "sw_webhook_deliveries_created_at_id_idx" ON "sw_webhook_deliveries"("created_at", "id");

-- CreateIndex
CREATE INDEX "sw_webhook_deliveries_status_created_at_id_idx" ON "sw_webhook_deliveries"("status", "created_at", "id");

-- CreateIndex
CREATE INDEX "sw_webhook_deliveries_endpoint_id_created_at_id_idx" ON "sw_webhook_deliveries"("endpoint_id", "created_at", "id");
