-- AlterTable
ALTER TABLE "sw_orders" ADD COLUMN "amount_refunded" REAL;
ALTER TABLE "sw_orders" ADD COLUMN "refund_reason" TEXT;
