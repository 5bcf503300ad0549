/**
 * A gate for forced races: the held side calls `wait()` (which also signals `reached`), the test awaits
 * `atGate`, starts the other side, then calls `release()`. `arm()` / `take()` mark the one unit of work to hold.
 */
export function gate() {
  let armed = false;
  let reached!: () => void;
  let release!: () => void;
  const atGate = new Promise<void>((r) => (reached = r));
  const opened = new Promise<void>((r) => (release = r));
  return {
    atGate,
    arm: () => void (armed = true),
    /** True once, for the first caller after `arm()`. */
    take(): boolean {
      const was = armed;
      armed = false;
      return was;
    },
    async wait(): Promise<void> {
      reached();
      await opened;
    },
    release: () => release(),
  };
}
