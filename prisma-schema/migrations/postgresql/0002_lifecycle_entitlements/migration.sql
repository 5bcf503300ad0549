-- AlterTable
ALTER TABLE "sw_orders" ADD COLUMN     "amount_refunded" DOUBLE PRECISION,
ADD COLUMN     "refund_reason" TEXT;

-- CreateTable
CREATE TABLE "sw_entitlement_grants" (
    "subscription_id" TEXT NOT NULL,
    "entitlement" TEXT NOT NULL,
    "user_id" TEXT NOT NULL,
    "provider" TEXT NOT NULL,
    "product_id" TEXT NOT NULL,
    "status" TEXT NOT NULL,
    "expires_at" TIMESTAMP(3),
    "updated_at" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "sw_entitlement_grants_pkey" PRIMARY KEY ("subscription_id","entitlement")
);

-- CreateIndex
CREATE INDEX "sw_entitlement_grants_user_id_entitlement_idx" ON "sw_entitlement_grants"("user_id", "entitlement");
