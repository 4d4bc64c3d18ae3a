/**
 * The bound on files a server keeps open (attached dataset files, per-project monitor files):
 * when each was last used, oldest first, and the holds on it (a run, an export, an import, a
 * watch). Past the bound, the least recently used files that are idle — unused for `idleMs`,
 * not held — are the ones to let go; a soft bound: while more are in use, more stay open.
 */
export function createIdleBound(options: { max: number; idleMs: number; now: () => number }) {
  const { max, idleMs, now } = options;
  /** Key → when it was last used; oldest first (re-inserted on use). */
  const lastUsed = new Map<string, number>();
  /** Key → holds not yet released. */
  const holds = new Map<string, number>();
  return {
    /** Used now: not idle, so no letting go picks it meanwhile. */
    touch(key: string) {
      lastUsed.delete(key);
      lastUsed.set(key, now());
    },
    forget(key: string) {
      lastUsed.delete(key);
    },
    forgetAll() {
      lastUsed.clear();
    },
    hold(key: string) {
      holds.set(key, (holds.get(key) ?? 0) + 1);
    },
    release(key: string) {
      const left = (holds.get(key) ?? 1) - 1;
      if (left > 0) holds.set(key, left);
      else holds.delete(key);
    },
    /**
     * The files to let go, least recently used first, so that `open` comes down to the bound:
     * idle and not held, and not skipped by `busy` (not open, closing, a call under way).
     */
    idle(open: number, busy: (key: string) => boolean): string[] {
      let over = open - max;
      const chosen: string[] = [];
      if (over <= 0) return chosen;
      const idleBefore = now() - idleMs;
      for (const [key, used] of lastUsed) {
        if (over <= 0 || used > idleBefore) break; // the rest were used more recently
        if (holds.has(key) || busy(key)) continue;
        over--;
        chosen.push(key);
      }
      return chosen;
    },
  };
}
export type IdleBound = ReturnType<typeof createIdleBound>;
