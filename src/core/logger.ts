import { SubscriptionWebhooksError } from './errors.js';

/** A pino-compatible logger: anything with these four methods (`console` works too). */
export interface Logger {
  debug(obj: unknown, msg?: string): void;
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

/**
 * The default logger: silent except warnings and errors, written to stderr as one JSON line each,
 * prefixed so they are easy to grep.
 */
export function defaultLogger(): Logger {
  const write = (level: string, obj: unknown, msg?: string) => {
    const fields = obj instanceof Error ? { err: { message: obj.message, code: (obj as { code?: string }).code } } : obj;
    process.stderr.write(`[subscription-webhooks] ${level}: ${msg ?? ''} ${safeJson(fields)}\n`);
  };
  return {
    debug: () => {},
    info: () => {},
    warn: (obj, msg) => write('warn', obj, msg),
    error: (obj, msg) => write('error', obj, msg),
  };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_k, v: unknown) => (v instanceof Error ? { message: v.message, name: v.name } : v)) ?? '';
  } catch {
    return String(value);
  }
}

/** Options of the rejection log (see {@link logRejection}). @internal */
export interface RejectionLogOptions {
  /** Length of a window, in ms: per code, the first rejection in it is logged in full, the rest counted. @default 60000 */
  windowMs?: number;
  /** Most codes tracked at once; the oldest is summarised and dropped to make room. @default 64 */
  maxCodes?: number;
}

interface Window {
  /** Date.now() of the first rejection of this window. */
  start: number;
  /** Rejections in this window, the logged one included. */
  count: number;
}

/** Per code, the current window. Bounded by `maxCodes`; emptied as windows end. @internal */
export class RejectionLog {
  private readonly windows = new Map<string, Window>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private readonly windowMs: number;
  private readonly maxCodes: number;

  constructor(
    private readonly logger: Logger,
    options: RejectionLogOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 60_000;
    this.maxCodes = options.maxCodes ?? 64;
  }

  record(code: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    this.flush(now);
    const w = this.windows.get(code);
    if (w) {
      w.count++;
      this.schedule();
      return;
    }
    if (this.windows.size >= this.maxCodes) {
      const [oldest, ow] = this.windows.entries().next().value as [string, Window];
      this.summarise(oldest, ow, now);
    }
    this.windows.set(code, { start: now, count: 1 });
    this.logger.warn({ code, ...fields }, msg);
  }

  /** Summarises and forgets every window that has ended by `now`. */
  flush(now: number): void {
    for (const [code, w] of this.windows) if (now - w.start >= this.windowMs) this.summarise(code, w, now);
  }

  private summarise(code: string, w: Window, now: number): void {
    this.windows.delete(code);
    if (w.count <= 1) return; // the one rejection was logged in full
    const seconds = Math.round(Math.min(now - w.start, this.windowMs) / 1000);
    this.logger.warn(
      { code, count: w.count, suppressed: w.count - 1, since: new Date(w.start).toISOString(), windowMs: this.windowMs },
      `rejected ${w.count} requests with code ${code} in the last ${seconds}s (only the first logged in full)`,
    );
  }

  /** When a flood stops, its summary still comes at the window's end (the timer never keeps the process alive). */
  private schedule(): void {
    if (this.timer) return;
    let first = Number.POSITIVE_INFINITY;
    for (const w of this.windows.values()) if (w.count > 1) first = Math.min(first, w.start);
    if (first === Number.POSITIVE_INFINITY) return;
    const delay = Math.max(first + this.windowMs - Date.now(), 0) + 5;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.flush(Date.now());
      this.schedule();
    }, delay);
    this.timer.unref?.();
  }
}

const rejectionLogs = new WeakMap<Logger, RejectionLog>();

/**
 * Logs a request the library answered with an error. A 5xx (our fault: store down, a handler threw) is
 * logged at `error`, every time. A 4xx (the client's: forged signature, malformed or oversized body,
 * timeout) is logged at `warn`, and rate-limited per error code so a flood cannot fill the logs or page
 * anyone: the first rejection of a code in a 60 s window is logged in full, the others are counted and
 * summarised in one line ("rejected 1234 requests with code SIGNATURE_INVALID in the last 60s") at the
 * first rejection after the window, or by an unref'd timer when the flood stops. One state per logger.
 * @internal
 */
export function logRejection(logger: Logger, error: unknown, fields: Record<string, unknown>, msg: string): void {
  // Only our own errors say whose fault it was; anything else answers 500 INTERNAL.
  if (!(error instanceof SubscriptionWebhooksError) || error.status < 400 || error.status >= 500) {
    logger.error(fields, msg);
    return;
  }
  let log = rejectionLogs.get(logger);
  if (!log) {
    log = new RejectionLog(logger);
    rejectionLogs.set(logger, log);
  }
  log.record(error.code, fields, msg);
}
