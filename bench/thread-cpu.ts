// CPU time of this process's threads (Linux, /proc/self/task; empty elsewhere), for the
// benchmarks' children: where a process's CPU goes, by thread, between two points.
import { readdirSync, readFileSync } from 'node:fs';

/** CPU (ms, user + system) of each live thread, by thread id, with the thread's name. */
export function threadCpu(): Map<string, { name: string; ms: number }> {
  const threads = new Map<string, { name: string; ms: number }>();
  let tasks: string[] = [];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return threads;
  }
  for (const task of tasks) {
    try {
      const stat = readFileSync(`/proc/self/task/${task}/stat`, 'utf8');
      const name = readFileSync(`/proc/self/task/${task}/comm`, 'utf8').trim();
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // utime + stime in clock ticks (USER_HZ, 100 on Linux).
      threads.set(task, { name, ms: (Number(fields[11]) + Number(fields[12])) * 10 });
    } catch {
      // the thread ended meanwhile
    }
  }
  return threads;
}

/**
 * The kind of a thread by its name: `js` Node's main thread (our code, PGlite), `v8` V8's
 * workers (GC, compilation), `workers` the rest — libuv's pool and the threads DuckDB starts
 * from it (they inherit its name).
 */
export const threadKind = (name: string): 'js' | 'v8' | 'workers' =>
  name === 'MainThread' ? 'js' : /^V8/.test(name) ? 'v8' : 'workers';

/**
 * CPU (ms) since `before` summed by thread name (threads started since count from zero; a
 * thread that ended in between is lost, as /proc forgets it).
 */
export function threadCpuSince(before: ReturnType<typeof threadCpu>): Record<string, number> {
  const byName: Record<string, number> = {};
  for (const [task, { name, ms }] of threadCpu()) {
    byName[name] = (byName[name] ?? 0) + ms - (before.get(task)?.ms ?? 0);
  }
  return byName;
}
