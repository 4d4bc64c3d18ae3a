import { QueryClient, QueryObserver } from '@tanstack/react-query';
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

const flushMicrotasks = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('setLiveData', () => {
  it('an older read that lands after a live event never overwrites it', async () => {
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    const key = ['workflow-run', 'p', 'r'];
    const server = serverReads();
    const observer = new QueryObserver(client, { queryKey: key, queryFn: server.fn });
    const unsubscribe = observer.subscribe(() => {});
    // The page's first read is out (the run was "running" when the server answered it)…
    expect(server.reads).toBe(1);
    // …and the run's "completed" event arrives before that answer does.
    setLiveData(client, key, 'completed');
    expect(client.getQueryData(key)).toBe('completed');
    server.answer('running');
    await flushMicrotasks();
    expect(client.getQueryData(key)).toBe('completed');
    // The query is read again, and that read (started after the event) is what it shows next.
    expect(server.reads).toBe(2);
    server.answer('completed');
    await flushMicrotasks();
    expect(client.getQueryData(key)).toBe('completed');
    unsubscribe();
  });

  it('with no read in flight, sets the value and reads nothing', async () => {
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    const key = ['dataset', 'p', 'd'];
    const server = serverReads();
    const observer = new QueryObserver(client, { queryKey: key, queryFn: server.fn });
    const unsubscribe = observer.subscribe(() => {});
    server.answer('columns: a');
    await flushMicrotasks();
    setLiveData<string>(client, key, (previous) => `${previous}, b`);
    await flushMicrotasks();
    expect(client.getQueryData(key)).toBe('columns: a, b');
    expect(server.reads).toBe(1);
    unsubscribe();
  });

  it('without the guard the older read wins (what the guard prevents)', async () => {
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    const key = ['workflow-run', 'p', 'r'];
    const server = serverReads();
    const observer = new QueryObserver(client, { queryKey: key, queryFn: server.fn });
    const unsubscribe = observer.subscribe(() => {});
    client.setQueryData(key, 'completed');
    server.answer('running');
    await flushMicrotasks();
    expect(client.getQueryData(key)).toBe('running');
    unsubscribe();
  });
});
