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
