import { vi } from 'vitest';

/**
 * Waits until `read()` gives a value `done` accepts, reading again every `intervalMs` on the
 * event loop, and returns it. The bound is not a speed limit on the code under test — it only
 * turns a hang into a failure naming what was not reached — so it is generous (60 s): the
 * suite must pass with both cores busy. Prefer awaiting an event where the code offers one.
 */
export async function eventually<T>(
  read: () => T | Promise<T>,
  done: (value: T) => boolean = Boolean,
  options: { what?: string; timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await read();
      if (!done(value)) {
        const shown = JSON.stringify(value) ?? String(value);
        throw new Error(`${options.what ?? 'condition'} not reached: ${shown.slice(0, 300)}`);
      }
      return value;
    },
    { timeout: options.timeoutMs ?? 60_000, interval: options.intervalMs ?? 20 },
  );
}
