-- AlterTable
ALTER TABLE "sw_events" ADD COLUMN     "subject" TEXT;

-- CreateTable
CREATE TABLE "sw_notification_outcomes" (
    "id" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "outcome" TEXT NOT NULL,
    "code" TEXT NOT NULL,
    "status" INTEGER NOT NULL,
    "notification_id" TEXT,
    "notification_type" TEXT,
    "reason" TEXT,
    "received_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "sw_notification_outcomes_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "sw_delivery_attempts" (
    "id" TEXT NOT NULL,
    "delivery_id" TEXT NOT NULL,
    "endpoint_id" TEXT NOT NULL,
    "attempt" INTEGER NOT NULL,
    "status_code" INTEGER,
    "error" TEXT,
    "duration_ms" INTEGER,
    "at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "sw_delivery_attempts_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "sw_notification_outcomes_received_at_id_idx" ON "sw_notification_outcomes"("received_at", "id");

-- CreateIndex
CREATE INDEX "sw_notification_outcomes_outcome_received_at_id_idx" ON "sw_notification_outcomes"("outcome", "received_at", "id");

-- CreateIndex
CREATE INDEX "sw_delivery_attempts_delivery_id_at_idx" ON "sw_delivery_attempts"("delivery_id", "at");

-- CreateIndex
CREATE INDEX "sw_delivery_attempts_at_idx" ON "sw_delivery_attempts"("at");

-- CreateIndex
CREATE INDEX "sw_entitlement_grants_entitlement_status_idx" ON "sw_entitlement_grants"("entitlement", "status");

-- CreateIndex
CREATE INDEX "sw_events_subject_sequence_idx" ON "sw_events"("subject", "sequence");

-- CreateIndex
CREATE INDEX "sw_subscriptions_status_provider_product_id_idx" ON "sw_subscriptions"("status", "provider", "product_id");

-- Hand-written: backfill the events' subject (what src/store/sql-tables.ts writes for new events).
UPDATE "sw_events" SET "subject" = COALESCE(CAST("body" AS jsonb) #>> '{data,object,contract_id}', CAST("body" AS jsonb) #>> '{data,object,origin_no}', CAST("body" AS jsonb) #>> '{data,object,subscription_id}') WHERE "subject" IS NULL;
