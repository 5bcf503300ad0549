-- AlterTable
ALTER TABLE "sw_subscriptions" ADD COLUMN     "sweep_after" TIMESTAMP(3),
ADD COLUMN     "sweep_claim" TEXT;

-- CreateIndex
CREATE INDEX "sw_subscriptions_status_current_period_end_idx" ON "sw_subscriptions"("status", "current_period_end");
