import type { Command } from 'commander';
import { systemActor } from '../auth/system-actor.ts';
import type { EventBus } from '../platform/events.ts';
import { runStream } from '../workflows/workflow-events.ts';
import type { WorkflowRunView } from '../workflows/workflow-presenter.ts';
import { withFeatures } from './cli-features.ts';
import { CliError, EXIT, printJson } from './cli-output.ts';

const usd = (nano: number) => `$${(nano / 1e9).toFixed(4)}`;

/** `--input k=v` (repeatable) → { k: v }. */
export function parseInputs(values: readonly string[]): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    if (at < 1)
      throw new CliError(
        `--input must look like name=value (got ${JSON.stringify(value)})`,
        EXIT.usage,
      );
    inputs[value.slice(0, at)] = value.slice(at + 1);
  }
  return inputs;
}

/** One line per step: what the run view's timeline shows. */
export function runLines(run: WorkflowRunView): string[] {
  return [
    `${run.workflowName} run ${run.id}: ${run.status}${run.waitingFor ? ` (waiting for approval of ${run.waitingFor})` : ''}`,
    ...run.steps.map(
      (step) =>
        `  ${step.id.padEnd(20)} ${step.status.padEnd(9)} ${String(step.attempts).padStart(2)} try  ${step.durationMs ?? '-'} ms  ${(step.inputTokens ?? 0) + (step.outputTokens ?? 0)} tokens  ${usd(step.costNano ?? 0)}${step.error ? `  ${step.error.code}: ${step.error.message}` : ''}`,
    ),
    `  total: ${run.totals.inputTokens + run.totals.outputTokens} tokens, ${usd(run.totals.costNano)}`,
  ];
}

/**
 * The progress display of `run --wait`: follows the run's event stream (the one the run view
 * listens to) and writes the timeline each time the run or a step changes status, and a
 * step's `done / total` while it works through many items. Subscribed before the run starts,
 * so no change after it started is missed; nothing is polled.
 */
export async function followRun(
  bus: Pick<EventBus, 'subscribe'>,
  runId: string,
  write: (text: string) => void,
): Promise<{ close(): void }> {
  const subscription = await bus.subscribe(runStream(runId), { bufferLimit: 64 });
  let shown = '';
  const drain = () => {
    for (const event of subscription.take()) {
      if (event.type === 'run-updated') {
        const text = runLines(event.data as WorkflowRunView).join('\n');
        if (text !== shown) write(`${text}\n`);
        shown = text;
      } else if (event.type === 'step-progress') {
        const { step, done, total } = event.data as { step: string; done: number; total: number };
        write(`  ${step}: ${done.toLocaleString('en-US')} / ${total.toLocaleString('en-US')}\n`);
      }
    }
  };
  subscription.onReady(drain);
  return {
    // What arrived since the last wake-up is written before the stream is let go.
    close: () => {
      drain();
      subscription.close();
    },
  };
}

const collect = (value: string, previous: string[]) => [...previous, value];

/**
 * `braincells workflow run|status`: they call the workflow service as the system actor,
 * never the HTTP routes. `run --wait` executes the run in this process with a progress
 * display; without it the run is queued for the server (its next start or sweep takes it).
 */
export function registerWorkflowCommands(program: Command): void {
  const workflow = program.command('workflow').description('Workflows: durable multi-step runs');

  workflow
    .command('run')
    .description('Start a run of a workflow (by name or id)')
    .argument('<name>', 'workflow name or id')
    .requiredOption('--project <project>', 'project id')
    .option('--input <name=value>', 'an input of the workflow (repeatable)', collect, [])
    .option('--wait', 'run it here and wait for the end, showing progress')
    .option('--json', 'print the run as JSON')
    .action(
      async (
        name: string,
        options: { project: string; input: string[]; wait?: boolean; json?: boolean },
      ) => {
        const inputs = parseInputs(options.input);
        const run = await withFeatures(async (features, platform) => {
          const service = features.workflows.service;
          const actor = systemActor();
          const found = await service.findWorkflow(actor, options.project, name);
          // The queue is started without workers so the run's job is stored for the server.
          features.registerJobs();
          await platform.jobs.start();
          const started = await service.startRun(actor, options.project, found.id, { inputs });
          if (!options.wait) return started;
          const progress = options.json
            ? undefined
            : await followRun(features.events, started.id, (text) => process.stderr.write(text));
          try {
            await platform.runs.execute(started.id);
          } finally {
            progress?.close();
          }
          return service.getRun(actor, options.project, started.id);
        });
        if (options.json) printJson(run);
        else process.stdout.write(`${runLines(run).join('\n')}\n`);
        if (options.wait && run.status === 'failed')
          throw new CliError(`run failed at step ${run.failedStep}: ${run.error?.message}`);
      },
    );

  workflow
    .command('status')
    .description('A run with its steps: status, attempts, duration, tokens, cost')
    .argument('<run>', 'run id')
    .option('--json', 'print the run as JSON')
    .action(async (runId: string, options: { json?: boolean }) => {
      const run = await withFeatures((features) =>
        features.workflows.service.getRunById(systemActor(), runId),
      );
      if (options.json) printJson(run);
      else process.stdout.write(`${runLines(run).join('\n')}\n`);
    });
}
