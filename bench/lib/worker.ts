/** A delivery worker process for the outbound benchmark (PostgreSQL in DATABASE_URL). Prints {"ready":true}. */
import { PrismaPg } from '@prisma/adapter-pg';
import { createSubscriptionWebhooks } from '../../src/index.js';
import { prismaStore } from '../../src/prisma.js';
import { PrismaClient } from '../../test/generated/postgresql/client.js';

const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL!, max: 8 }) });
const hooks = createSubscriptionWebhooks({
  apple: { bundleId: 'com.example.bench', environments: ['Sandbox'] },
  store: prismaStore(prisma),
  logger: { debug() {}, info() {}, warn() {}, error: (o: unknown, m?: string) => process.stderr.write(`${m} ${JSON.stringify(o)}\n`) },
  delivery: { pollIntervalMs: 20, concurrency: 32, batchSize: 200 },
});
hooks.delivery.start();
process.stdout.write(`${JSON.stringify({ ready: true, port: 0 })}\n`);
process.on('SIGTERM', () => {
  void hooks.delivery
    .stop()
    .then(() => prisma.$disconnect())
    .then(() => process.exit(0));
});
