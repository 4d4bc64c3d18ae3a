// Splits a `BENCH_CHAT_TTFT_PROFILE` run's CPU profile into the path to each reply's first delta
// and charges those samples to the SQL statement PGlite was running (its WASM work is synchronous
// inside each protocol message), to the package of the frame otherwise (docs/chat.md "Fifth
// pass"). Samples are wall-clock: read the shares, not the milliseconds, on a loaded machine.
//
//   node bench/chat-first-token-windows.ts <dir>
import { readFileSync } from 'node:fs';
import type { Profiler } from 'node:inspector';
import path from 'node:path';
import { codeGroup } from './bench-profile.ts';

const dir = process.argv[2];
if (!dir) throw new Error('usage: node bench/chat-first-token-windows.ts <profile dir>');
const profile = JSON.parse(
  readFileSync(path.join(dir, 'chat-first-token.cpuprofile'), 'utf8'),
) as Profiler.Profile;
const { windows, statements } = JSON.parse(
  readFileSync(path.join(dir, 'chat-first-token.windows.json'), 'utf8'),
) as { windows: [number, number][]; statements: [string, number, number][] };
const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
const parents = new Map<number, number>();
for (const node of profile.nodes)
  for (const child of node.children ?? []) parents.set(child, node.id);

const byStatement = new Map<string, number>();
const byCode = new Map<string, number>();
const add = (map: Map<string, number>, key: string, micros: number) =>
  map.set(key, (map.get(key) ?? 0) + micros);
let time = profile.startTime;
let window = 0;
let total = 0;
(profile.samples ?? []).forEach((id, i) => {
  const delta = profile.timeDeltas?.[i] ?? 0;
  time += delta;
  while (window < windows.length && (windows[window] as [number, number])[1] < time) window++;
  if (window >= windows.length || (windows[window] as [number, number])[0] > time) return;
  const frame = nodes.get(id)?.callFrame;
  if (!frame || frame.functionName === '(idle)') return;
  total += delta;
  let inPglite = frame.url.startsWith('wasm://');
  for (let at: number | undefined = id; at !== undefined && !inPglite; at = parents.get(at))
    inPglite = nodes.get(at)?.callFrame.url.includes('@electric-sql/pglite') === true;
  if (!inPglite) add(byCode, codeGroup(frame.url, frame.functionName), delta);
  else {
    const running = statements.findLast(([, start, end]) => start <= time && time <= end);
    add(byStatement, running ? `PGlite: ${running[0]}` : 'PGlite: outside a statement', delta);
  }
});
const lines = [...byStatement, ...byCode]
  .sort((a, b) => b[1] - a[1])
  .slice(0, 30)
  .map(
    ([key, micros]) =>
      `  ${((100 * micros) / total).toFixed(1).padStart(5)}%  ${(micros / 1000 / windows.length).toFixed(3)} ms/reply  ${key}`,
  );
process.stdout.write(
  `${windows.length} replies, ${(total / 1000 / windows.length).toFixed(2)} ms busy per reply before its first delta\n${lines.join('\n')}\n`,
);
