/**
 * One writer per key at a time, in arrival order. The data store takes the dataset's lock for
 * every write, so a compare-and-set reads and writes a cell version with nobody in between.
 * Across servers, one server at a time holds a dataset (platform/datasets/dataset-leases.ts)
 * and checks it still does under this lock before writing, so a process-local lock is enough.
 */
export interface KeyedMutex {
  run<T>(key: string, work: () => Promise<T>): Promise<T>;
}

export function createKeyedMutex(): KeyedMutex {
  const tails = new Map<string, Promise<unknown>>();
  return {
    async run(key, work) {
      const previous = tails.get(key) ?? Promise.resolve();
      let release!: () => void;
      const current = new Promise<void>((resolve) => {
        release = resolve;
      });
      const tail = previous.then(() => current);
      tails.set(key, tail);
      await previous;
      try {
        return await work();
      } finally {
        release();
        if (tails.get(key) === tail) tails.delete(key);
      }
    },
  };
}
