// ccusage, the peer of the Monitor's Claude Code import (issue 15): `ccusage session --json
// --offline` over a generated `projects` folder. Not a dependency of the project: found in
// node_modules (`npm install --no-save ccusage@20.0.24`) or at BENCH_CCUSAGE (its binary).
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';

/** The command that runs ccusage: BENCH_CCUSAGE, else the npm package's launcher, if installed. */
export function ccusageCommand(): string[] | undefined {
  if (process.env.BENCH_CCUSAGE) return [process.env.BENCH_CCUSAGE];
  try {
    const launcher = createRequire(import.meta.url).resolve('ccusage/src/cli.js');
    return [process.execPath, launcher];
  } catch {
    return undefined;
  }
}

export interface CcusageTotals {
  inputTokens: number;
  outputTokens: number;
  cacheCreationTokens: number;
  cacheReadTokens: number;
  totalCost: number;
}

/** One row of ccusage's session report: `period` is the session id. */
export interface CcusageSession extends CcusageTotals {
  period: string;
}

/**
 * CPU time (ms) of this process's waited-for children, from /proc/self/stat (cutime + cstime,
 * in clock ticks of 10 ms): the launcher waits for ccusage's native binary, and Node for the
 * launcher, so their whole CPU lands here once the run has ended. Undefined off Linux.
 */
export function childrenCpuMs(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    // The fields after the command name (in parentheses, which may hold spaces): cutime is the
    // 16th field of the line, cstime the 17th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) * 10;
  } catch {
    return undefined;
  }
}

/** `ccusage session --json --offline` over `claudeDir/projects`: its totals, wall and CPU time. */
export async function runCcusage(
  command: string[],
  claudeDir: string,
): Promise<{
  ms: number;
  cpuMs: number | undefined;
  totals: CcusageTotals;
  sessions: CcusageSession[];
}> {
  const cpuBefore = childrenCpuMs();
  const started = performance.now();
  const { stdout } = await promisify(execFile)(
    command[0]!,
    [...command.slice(1), 'session', '--json', '--offline'],
    {
      env: { ...process.env, CLAUDE_CONFIG_DIR: claudeDir, TZ: 'UTC' },
      maxBuffer: 512 * 1024 * 1024,
    },
  );
  const ms = performance.now() - started;
  const cpuAfter = childrenCpuMs();
  const report = JSON.parse(stdout) as { totals: CcusageTotals; session: CcusageSession[] };
  return {
    ms,
    cpuMs: cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore,
    totals: report.totals,
    sessions: report.session,
  };
}
