/** A delivery worker process for the outbound benchmark (PostgreSQL in DATABASE_URL; STORE=pg for pgStore, else prismaStore). Prints {"ready":true}. */
import { PrismaPg } from '@prisma/adapter-pg';
import { createSubscriptionWebhooks } from '../../src/index.js';
import pg from 'pg';
import { prismaStore } from '../../src/prisma.js';
import { pgStore } from '../../src/pg.js';
import { PrismaClient } from '../../test/generated/postgresql/client.js';

const usePg = process.env.STORE === 'pg';
const pool = usePg ? new pg.Pool({ connectionString: process.env.DATABASE_URL!, max: 8 }) : undefined;
const prisma = usePg ? undefined : new PrismaClient({ adapter: new PrismaPg({ connectionString: process.env.DATABASE_URL!, max: 8 }) });
const hooks = createSubscriptionWebhooks({
  apple: { bundleId: 'com.example.bench', environments: ['Sandbox'] },
  store: pool ? pgStore(pool) : prismaStore(prisma!),
  logger: { debug() {}, info() {}, warn() {}, error: (o: unknown, m?: string) => process.stderr.write(`${m} ${JSON.stringify(o)}\n`) },
  // The receiver is on 127.0.0.1: allowed explicitly (these processes run with NODE_ENV=production).
  // Connections still go through the connect-time lookup; only its verdict on loopback is waived.
  allowPrivateUrls: true,
  // Endpoint secrets encrypted at rest, as in production (SECRETS_KEY from the benchmark).
  secretsKey: process.env.SECRETS_KEY || undefined,
  // ENDPOINT_CONCURRENCY: the throughput run has a single endpoint and lets it use all 32 slots; the
  // noisy-neighbour run keeps the default (10 per endpoint).
  delivery: {
    pollIntervalMs: 20,
    concurrency: 32,
    batchSize: 200,
    ...(process.env.ENDPOINT_CONCURRENCY ? { endpointConcurrency: Number(process.env.ENDPOINT_CONCURRENCY) } : {}),
    ...(process.env.DELIVERY_TIMEOUT_MS ? { timeoutMs: Number(process.env.DELIVERY_TIMEOUT_MS) } : {}),
  },
});
hooks.delivery.start();
process.stdout.write(`${JSON.stringify({ ready: true, port: 0 })}\n`);
process.on('SIGTERM', () => {
  void hooks.delivery
    .stop()
    .then(() => Promise.all([prisma?.$disconnect(), pool?.end()]))
    .then(() => process.exit(0));
});
