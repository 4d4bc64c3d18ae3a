import { QueryClient, type QueryKey, QueryObserver } from '@tanstack/react-query';
import { describe, expect, it } from 'vitest';
import { setLiveData } from './live-query.ts';

/** A query function whose answers the test hands out one by one. */
function serverReads() {
  const pending: ((value: string) => void)[] = [];
  let reads = 0;
  return {
    fn: () => {
      reads++;
      return new Promise<string>((resolve) => pending.push(resolve));
    },
    answer: (value: string) => pending.shift()?.(value),
    get reads() {
      return reads;
    },
  };
}

/**
 * The query's cache as the page sees it: every value it held, in order, and a wait for the
 * next answer of a read to land (an event of the cache, not a timer).
 */
function watch(client: QueryClient, key: QueryKey, fn: () => Promise<string>) {
  const values: unknown[] = [];
  const waiters: (() => void)[] = [];
  const observer = new QueryObserver(client, { queryKey: key, queryFn: fn });
  const stopObserving = observer.subscribe(() => {});
  const stopWatching = client.getQueryCache().subscribe((event) => {
    if (event.type !== 'updated' || event.action.type !== 'success') return;
    values.push(event.query.state.data);
    if (!event.action.manual) for (const wake of waiters.splice(0)) wake();
  });
  return {
    values,
    nextRead: () => new Promise<void>((resolve) => waiters.push(resolve)),
    close() {
      stopWatching();
      stopObserving();
    },
  };
}

const newClient = () => new QueryClient({ defaultOptions: { queries: { retry: false } } });

describe('setLiveData', () => {
  it('an older read that lands after a live event never overwrites it', async () => {
    const client = newClient();
    const key = ['workflow-run', 'p', 'r'];
    const server = serverReads();
    const cache = watch(client, key, server.fn);
    // The page's first read is out (the run was "running" when the server answered it)…
    expect(server.reads).toBe(1);
    // …and the run's "completed" event arrives before that answer does.
    setLiveData(client, key, 'completed');
    expect(client.getQueryData(key)).toBe('completed');
    // The query is read again; the older answer lands first, the new read's after it.
    expect(server.reads).toBe(2);
    const landed = cache.nextRead();
    server.answer('running');
    server.answer('completed');
    await landed;
    expect(client.getQueryData(key)).toBe('completed');
    // "running" was never shown, not even for a moment.
    expect(cache.values).toEqual(['completed', 'completed']);
    cache.close();
  });

  it('with no read in flight, sets the value and reads nothing', async () => {
    const client = newClient();
    const key = ['dataset', 'p', 'd'];
    const server = serverReads();
    const cache = watch(client, key, server.fn);
    const landed = cache.nextRead();
    server.answer('columns: a');
    await landed;
    setLiveData<string>(client, key, (previous) => `${previous}, b`);
    expect(client.getQueryData(key)).toBe('columns: a, b');
    expect(server.reads).toBe(1);
    cache.close();
  });

  it('without the guard the older read wins (what the guard prevents)', async () => {
    const client = newClient();
    const key = ['workflow-run', 'p', 'r'];
    const server = serverReads();
    const cache = watch(client, key, server.fn);
    client.setQueryData(key, 'completed');
    const landed = cache.nextRead();
    server.answer('running');
    await landed;
    expect(client.getQueryData(key)).toBe('running');
    expect(cache.values).toEqual(['completed', 'running']);
    cache.close();
  });
});
