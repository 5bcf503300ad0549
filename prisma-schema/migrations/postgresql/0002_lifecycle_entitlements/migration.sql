-- AlterTable
ALTER TABLE "sw_orders" ADD COLUMN     "amount_refunded" DOUBLE PRECISION,
ADD COLUMN     "refund_reason" TEXT;
