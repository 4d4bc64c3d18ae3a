// Where a benchmark's time goes, independent of how loaded the machine is: V8's CPU profiler
// and sampling allocation profiler around a fixed number of operations, summarised by package
// (or our file), and the SQL statements PGlite ran per operation. Used by the gateway and chat
// first-token benchmarks (their `*_PROFILE=<dir>` modes); the files open in Chrome DevTools.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import path from 'node:path';
import type { PGlite, Transaction } from '@electric-sql/pglite';
import { tapPreparedRuns } from '../src/platform/db/pglite-prepared-tap.ts';

/**
 * Runs `work` (`operations` of something) under the CPU profiler and the sampling allocation
 * profiler; writes `<dir>/<name>.cpuprofile` / `.heapprofile` and prints self time and bytes
 * allocated per package, per operation.
 */
export async function profiled(
  dir: string,
  name: string,
  operations: number,
  work: () => Promise<void>,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 8192,
    // Objects already collected count too: this is allocation volume, not the live set.
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  await session.post('Profiler.start');
  await work();
  const { profile } = await session.post('Profiler.stop');
  const { profile: heap } = await session.post('HeapProfiler.stopSampling');
  session.disconnect();
  writeFileSync(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  writeFileSync(path.join(dir, `${name}.heapprofile`), JSON.stringify(heap));
  const selfTime = new Map<string, number>();
  const ids = new Map(profile.nodes.map((node) => [node.id, node]));
  const deltas = profile.timeDeltas ?? [];
  (profile.samples ?? []).forEach((id, i) => {
    const frame = ids.get(id)?.callFrame;
    const group = frame ? codeGroup(frame.url, frame.functionName) : '?';
    selfTime.set(group, (selfTime.get(group) ?? 0) + (deltas[i] ?? 0));
  });
  selfTime.delete('(idle)');
  const allocated = new Map<string, number>();
  const walk = (node: typeof heap.head) => {
    const group = codeGroup(node.callFrame.url, node.callFrame.functionName);
    allocated.set(group, (allocated.get(group) ?? 0) + node.selfSize);
    for (const child of node.children) walk(child);
  };
  walk(heap.head);
  const top = (map: Map<string, number>, unit: number, suffix: string) => {
    const total = [...map.values()].reduce((sum, value) => sum + value, 0);
    return [...map]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 20)
      .map(
        ([group, value]) =>
          `  ${((100 * value) / total).toFixed(1).padStart(5)}%  ${(value / unit / operations).toFixed(3)} ${suffix}/op  ${group}`,
      )
      .join('\n');
  };
  process.stderr.write(
    `${name}: CPU self time by code (busy samples)\n${top(selfTime, 1000, 'ms')}\n` +
      `${name}: bytes allocated by code\n${top(allocated, 1024, 'KiB')}\n`,
  );
}

/** The package (`zod`, `@ai-sdk/openai`), Node module (`node:webstreams`) or our file of a frame. */
export function codeGroup(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  const packages = url.match(/node_modules\/(@[^/]+\/)?[^/]+/g);
  if (packages) return (packages.at(-1) as string).slice('node_modules/'.length);
  if (url.startsWith('node:')) {
    const parts = url.replace(/^node:(internal\/)?/, '').split('/');
    // Node's bundled undici is `node:internal/deps/undici/undici`.
    return `node:${parts[0] === 'deps' ? parts[1] : parts[0]}`;
  }
  return url.match(/\/(src|bench|tools)\/.*$/)?.[0].slice(1) ?? url;
}

/**
 * Counts the statements PGlite runs (the first words of each), to say what each operation
 * costs it; `report(operations)` prints them per operation, most frequent first.
 */
export function countStatements(pglite: PGlite | undefined) {
  const counts = new Map<string, number>();
  /** Time inside PGlite's synchronous (wasm) calls, by the statement each call served. */
  const busy = new Map<string, number>();
  // Only the start of a statement is normalised: a long one (a JSON parameter inlined) would
  // cost the bench more than PGlite.
  const headOf = (text: string) => text.trimStart().slice(0, 200).replace(/\s+/g, ' ').slice(0, 70);
  const count = (text: string) => {
    const head = headOf(text);
    counts.set(head, (counts.get(head) ?? 0) + 1);
  };
  if (pglite)
    timeStatements(pglite, (text, ms) => {
      const head = headOf(text);
      busy.set(head, (busy.get(head) ?? 0) + ms);
    });
  if (pglite) {
    const query = pglite.query.bind(pglite);
    pglite.query = ((text: string, ...rest: unknown[]) => {
      count(text);
      return (query as (...args: unknown[]) => unknown)(text, ...rest);
    }) as PGlite['query'];
    // A prepared statement (PREPARED) is parsed once, then only bound: each bind is one run.
    tapPreparedRuns(pglite, count);
    const transaction = pglite.transaction.bind(pglite);
    pglite.transaction = ((callback: (tx: Transaction) => Promise<unknown>) =>
      transaction((tx) => {
        count('(transaction)');
        const inner = tx.query.bind(tx);
        tx.query = ((text: string, ...rest: unknown[]) => {
          count(text);
          return (inner as (...args: unknown[]) => unknown)(text, ...rest);
        }) as Transaction['query'];
        return callback(tx);
      })) as PGlite['transaction'];
  }
  return {
    clear: () => counts.clear(),
    total: () => [...counts.values()].reduce((sum, n) => sum + n, 0),
    report: (operations: number) =>
      [...counts]
        .sort((a, b) => b[1] - a[1])
        .map(
          ([head, n]) =>
            `  ${(n / operations).toFixed(2)}  ${((busy.get(head) ?? 0) / operations).toFixed(3)} ms  ${head}`,
        )
        .join('\n') || '  (none: not PGlite)',
  };
}

/**
 * Calls `onTime` with the SQL text and the milliseconds of each synchronous call into PGlite's
 * wasm (`execProtocolRawSync`, one protocol message each): where PGlite's own CPU goes, by
 * statement. Every message runs under PGlite's mutex, so an unnamed Bind/Execute belongs to
 * the last unnamed Parse; a named one to the statement parsed under that name.
 */
function timeStatements(pglite: PGlite, onTime: (text: string, ms: number) => void) {
  const raw = pglite as unknown as { execProtocolRawSync(message: Uint8Array): Uint8Array };
  const sync = raw.execProtocolRawSync.bind(raw);
  const decoder = new TextDecoder();
  const cString = (message: Uint8Array, from: number) => {
    const end = message.indexOf(0, from);
    return { text: decoder.decode(message.subarray(from, end)), next: end + 1 };
  };
  const named = new Map<string, string>();
  let unnamed = '';
  let current = '';
  raw.execProtocolRawSync = (message: Uint8Array) => {
    const type = message[0];
    if (type === 0x50) {
      const name = cString(message, 5);
      const text = cString(message, name.next).text;
      if (name.text) named.set(name.text, text);
      else unnamed = text;
      current = text;
    } else if (type === 0x42) {
      const statement = cString(message, cString(message, 5).next).text;
      current = statement ? (named.get(statement) ?? statement) : unnamed;
    } else if (type === 0x51) current = cString(message, 5).text;
    const started = performance.now();
    try {
      return sync(message);
    } finally {
      onTime(current || '(protocol)', performance.now() - started);
    }
  };
}
