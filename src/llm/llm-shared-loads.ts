/**
 * Reads of one key that overlap share one read: when a cached copy (a connection, the budgets,
 * the price overrides) runs out while 64 calls are under way, the next ones wait for the read
 * the first one started instead of each sending the same statement.
 * `forget(key)` (an invalidation) makes the next caller start a new read; a read started
 * before it is then not shared any more.
 */
export function sharedLoads<V>() {
  const running = new Map<string, Promise<V>>();
  return {
    load(key: string, read: () => Promise<V>): Promise<V> {
      const under = running.get(key);
      if (under) return under;
      const started = read().finally(() => {
        if (running.get(key) === started) running.delete(key);
      });
      running.set(key, started);
      return started;
    },
    forget(key: string): void {
      running.delete(key);
    },
    forgetWhere(predicate: (key: string) => boolean): void {
      for (const key of [...running.keys()]) if (predicate(key)) running.delete(key);
    },
  };
}
