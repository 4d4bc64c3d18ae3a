import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { systemActor } from '../auth/system-actor.ts';
import type { RunEstimate } from '../sheets/generation/generation-estimates.ts';
import type { RunView } from '../sheets/generation/generation-presenter.ts';
import { RUN_MODES, type RunRequest } from '../sheets/generation/generation-schema.ts';
import { withFeatures } from './cli-features.ts';
import { CliError, EXIT, printJson } from './cli-output.ts';

const usd = (nano: number | null | undefined) =>
  nano === null || nano === undefined
    ? 'price unknown'
    : `$${(nano / 1e9).toFixed(nano < 1e7 ? 4 : 2)}`;

function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  if (seconds < 90) return `${Math.round(seconds)}s`;
  if (seconds < 5_400) return `${Math.round(seconds / 60)}m`;
  return `${(seconds / 3_600).toFixed(1)}h`;
}

/** One line, redrawn in place on a terminal; every few seconds as plain lines otherwise. */
export function generationProgressLine(run: RunView): string {
  const { total, processed, errors, conflicts, cellsPerSecond, costNano, etaSeconds } =
    run.progress;
  const width = 30;
  const share = total > 0 ? Math.min(1, processed / total) : 1;
  const filled = Math.round(share * width);
  const extra = [errors ? `${errors} errors` : '', conflicts ? `${conflicts} kept user edits` : '']
    .filter(Boolean)
    .join(', ');
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(Math.round(share * 100)).padStart(3)}%  ${processed}/${total} cells  ${cellsPerSecond.toFixed(1)} cells/s  ${usd(costNano)}  ETA ${duration(etaSeconds)}${extra ? `  (${extra})` : ''}`;
}

/** `--rows 10-20` (positions in row order, 1-based) or `--rows 7`. */
export function parseRows(text: string): { from: number; to: number } {
  const match = /^\s*(\d+)\s*(?:-\s*(\d+))?\s*$/.exec(text);
  if (!match)
    throw new CliError('--rows must look like 10-20 or 7 (row positions, from 1)', EXIT.usage);
  const from = Number(match[1]);
  const to = match[2] === undefined ? from : Number(match[2]);
  if (from < 1 || to < from)
    throw new CliError('--rows must be a range from 1 upwards, like 10-20', EXIT.usage);
  return { from, to };
}

async function confirmOnTerminal(estimate: RunEstimate): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(
      `About ${usd(estimate.costNano)} for ${estimate.cells} cells (~${duration(estimate.durationSeconds)}). Continue? [y/N] `,
    );
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

export function registerGenerateCommands(program: Command): void {
  program
    .command('generate')
    .description(
      'Fill an AI column of a dataset (runs here, with a progress bar; the server need not run)',
    )
    .argument('<dataset>', 'dataset id')
    .requiredOption('--column <column>', 'AI column, by name or id')
    .option('--rows <rows>', 'only these rows: positions like 1-100 (from 1, in row order)')
    .option(
      '--mode <mode>',
      `which cells: ${RUN_MODES.filter((mode) => mode !== 'cells' && mode !== 'range').join(', ')} (default: outdated — every cell not done with the current prompt)`,
    )
    .option('--include-validated', 'also regenerate validated cells')
    .option('--downstream', 'afterwards, refresh the AI columns that use this one')
    .option('--fresh', 'skip the response cache')
    .option(
      '--yes',
      'start even if the estimated cost is above BRAINCELLS_GENERATION_CONFIRM_ABOVE_USD',
    )
    .option('--json', 'print the finished run as JSON')
    .action(
      async (
        datasetId: string,
        options: {
          column: string;
          rows?: string;
          mode?: string;
          includeValidated?: boolean;
          downstream?: boolean;
          fresh?: boolean;
          yes?: boolean;
          json?: boolean;
        },
      ) => {
        if (options.mode && !(RUN_MODES as readonly string[]).includes(options.mode))
          throw new CliError(`--mode must be one of ${RUN_MODES.join(', ')}`, EXIT.usage);
        const range = options.rows ? parseRows(options.rows) : undefined;
        let outcome: RunView | undefined;
        await withFeatures(async (features) => {
          const sheetsModule = features.sheets;
          const generation = features.generation;
          // withFeatures hands a run still going back (stopWork) before it closes.
          const actor = systemActor();
          const found = await sheetsModule.store.findDatasetById(datasetId);
          if (!found || found.deleted_at) throw new CliError(`dataset ${datasetId} not found`);
          const { columns } = await sheetsModule.sheets.requireDataset(
            actor,
            found.project_id,
            datasetId,
            'editor',
          );
          const column = columns.find(
            (candidate) =>
              candidate.id === options.column ||
              candidate.name.toLowerCase() === options.column.toLowerCase(),
          );
          if (column?.kind !== 'ai')
            throw new CliError(
              `no AI column ${JSON.stringify(options.column)} in dataset ${datasetId}`,
            );
          const request: RunRequest = {
            mode: range ? 'range' : ((options.mode as RunRequest['mode']) ?? 'outdated'),
            ...(range ? { range } : {}),
            ...(options.includeValidated ? { includeValidated: true } : {}),
            includeDownstream: options.downstream === true,
            ...(options.fresh ? { fresh: true } : {}),
            confirm: options.yes === true,
          };
          // A paused run of this column (Ctrl-C, a budget) is resumed rather than replaced.
          const existing = await generation.store.findActiveRun(column.id);
          if (existing && existing.status !== 'paused')
            throw new CliError(
              `a run of this column is already ${existing.status} (${existing.id}), e.g. on the server`,
            );
          if (existing)
            await generation.runs.resumeRun(actor, found.project_id, datasetId, existing.id);
          const run =
            existing ??
            (await generation.runs.createRunForCli(
              actor,
              found.project_id,
              datasetId,
              column.id,
              request,
            ));
          const estimate = run.estimate as RunEstimate;
          if (run.status === 'awaiting-confirmation') {
            if (!(await confirmOnTerminal(estimate))) {
              await generation.runs.cancelRun(actor, found.project_id, datasetId, run.id);
              throw new CliError(
                `estimated ${usd(estimate.costNano)} for ${estimate.cells} cells is above the confirmation threshold; run again with --yes to start it`,
              );
            }
            await generation.runs.confirmRun(actor, found.project_id, datasetId, run.id);
          }
          if (!options.json)
            process.stderr.write(
              `${estimate.cells} cells, about ${usd(estimate.costNano)} and ${duration(estimate.durationSeconds)}\n`,
            );
          // Ctrl-C pauses the run: `braincells generate` again (or the server) resumes it.
          const onSignal = () => generation.runner.stop(run.id, 'pause');
          process.once('SIGINT', onSignal);
          const out = process.stderr;
          let lastPlain = 0;
          const draw = async () => {
            const view = await generation.runs.getRun(actor, found.project_id, datasetId, run.id);
            if (options.json) return;
            const line = generationProgressLine(view);
            if (out.isTTY) out.write(`\r${line}\u001b[K`);
            else if (Date.now() - lastPlain >= 2_000) {
              lastPlain = Date.now();
              out.write(`${line}\n`);
            }
          };
          const ticker = setInterval(() => void draw().catch(() => {}), 250);
          try {
            await generation.runner.execute(run.id);
          } finally {
            clearInterval(ticker);
            process.removeListener('SIGINT', onSignal);
          }
          outcome = await generation.runs.getRun(actor, found.project_id, datasetId, run.id);
          if (!options.json) {
            out.write(`${out.isTTY ? '\r' : ''}${generationProgressLine(outcome)}\u001b[K\n`);
          }
        });
        if (options.json) printJson(outcome);
        if (outcome?.status === 'completed') {
          if (!options.json)
            console.log(
              `${outcome.progress.done} cells done${outcome.progress.errors ? `, ${outcome.progress.errors} errors` : ''}, ${usd(outcome.progress.costNano)}`,
            );
          return;
        }
        if (outcome?.status === 'paused')
          throw new CliError(
            outcome.pauseReason === 'budget'
              ? 'paused: a budget is exhausted; raise it and run again to resume'
              : 'paused; run the same command again to resume',
          );
        throw new CliError(
          `run ${outcome?.status ?? 'failed'}: ${outcome?.error?.message ?? 'unknown error'}`,
        );
      },
    );
}
