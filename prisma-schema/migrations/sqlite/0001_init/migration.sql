-- CreateTable
CREATE TABLE "sw_notifications" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "provider" TEXT NOT NULL,
    "notification_id" TEXT NOT NULL,
    "notification_type" TEXT NOT NULL,
    "subtype" TEXT,
    "environment" TEXT,
    "signed_at" DATETIME,
    "received_at" DATETIME NOT NULL,
    "raw_body" TEXT NOT NULL,
    "payload" JSONB NOT NULL
);

-- CreateTable
CREATE TABLE "sw_orders" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "no" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "trade_no" TEXT,
    "origin_no" TEXT,
    "status" TEXT NOT NULL,
    "user_id" TEXT,
    "product_id" TEXT,
    "amount" REAL,
    "currency" TEXT,
    "paid_at" DATETIME,
    "metadata" JSONB NOT NULL,
    "subscription_data" JSONB,
    "created_at" DATETIME NOT NULL,
    "updated_at" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "sw_subscriptions" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "provider" TEXT NOT NULL,
    "contract_id" TEXT NOT NULL,
    "user_id" TEXT,
    "product_id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "auto_renew" BOOLEAN NOT NULL,
    "current_period_start" DATETIME,
    "current_period_end" DATETIME,
    "pending_product_id" TEXT,
    "environment" TEXT NOT NULL,
    "latest_transaction_id" TEXT,
    "notification_settings" JSONB,
    "setting_id" TEXT,
    "metadata" JSONB NOT NULL,
    "last_event_at" DATETIME,
    "created_at" DATETIME NOT NULL,
    "updated_at" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "sw_notification_settings" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "type" TEXT NOT NULL,
    "mount_location" TEXT NOT NULL,
    "description" TEXT,
    "component_did" TEXT,
    "settings" JSONB NOT NULL,
    "created_at" DATETIME NOT NULL,
    "updated_at" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "sw_events" (
    "sequence" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "id" TEXT NOT NULL,
    "type" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "created" DATETIME NOT NULL,
    "body" TEXT NOT NULL,
    "created_at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- CreateTable
CREATE TABLE "sw_webhook_endpoints" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "url" TEXT NOT NULL,
    "enabled_events" JSONB NOT NULL,
    "status" TEXT NOT NULL,
    "secret" TEXT NOT NULL,
    "previous_secret" TEXT,
    "previous_secret_expires_at" DATETIME,
    "description" TEXT,
    "metadata" JSONB NOT NULL,
    "created_at" DATETIME NOT NULL,
    "updated_at" DATETIME NOT NULL
);

-- CreateTable
CREATE TABLE "sw_webhook_deliveries" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "endpoint_id" TEXT NOT NULL,
    "event_id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "next_attempt_at" DATETIME,
    "last_status" INTEGER,
    "last_error" TEXT,
    "last_attempt_at" DATETIME,
    "locked_until" DATETIME,
    "locked_by" TEXT,
    "delivered_at" DATETIME,
    "created_at" DATETIME NOT NULL,
    "updated_at" DATETIME NOT NULL
);

-- CreateIndex
CREATE INDEX "sw_notifications_received_at_idx" ON "sw_notifications"("received_at");

-- CreateIndex
CREATE UNIQUE INDEX "sw_notifications_provider_notification_id_key" ON "sw_notifications"("provider", "notification_id");

-- CreateIndex
CREATE UNIQUE INDEX "sw_orders_no_key" ON "sw_orders"("no");

-- CreateIndex
CREATE INDEX "sw_orders_user_id_idx" ON "sw_orders"("user_id");

-- CreateIndex
CREATE INDEX "sw_orders_origin_no_idx" ON "sw_orders"("origin_no");

-- CreateIndex
CREATE UNIQUE INDEX "sw_orders_provider_trade_no_key" ON "sw_orders"("provider", "trade_no");

-- CreateIndex
CREATE INDEX "sw_subscriptions_user_id_idx" ON "sw_subscriptions"("user_id");

-- CreateIndex
CREATE UNIQUE INDEX "sw_subscriptions_provider_contract_id_key" ON "sw_subscriptions"("provider", "contract_id");

-- CreateIndex
CREATE UNIQUE INDEX "sw_notification_settings_mount_location_key" ON "sw_notification_settings"("mount_location");

-- CreateIndex
CREATE UNIQUE INDEX "sw_events_id_key" ON "sw_events"("id");

-- CreateIndex
CREATE INDEX "sw_events_type_sequence_idx" ON "sw_events"("type", "sequence");

-- CreateIndex
CREATE INDEX "sw_webhook_deliveries_status_next_attempt_at_idx" ON "sw_webhook_deliveries"("status", "next_attempt_at");

-- CreateIndex
CREATE INDEX "sw_webhook_deliveries_locked_by_idx" ON "sw_webhook_deliveries"("locked_by");

-- CreateIndex
CREATE UNIQUE INDEX "sw_webhook_deliveries_endpoint_id_event_id_key" ON "sw_webhook_deliveries"("endpoint_id", "event_id");
