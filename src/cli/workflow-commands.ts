import type { Command } from 'commander';
import { systemActor } from '../auth/system-actor.ts';
import type { Features } from '../features.ts';
import type { EventBus } from '../platform/events.ts';
import type { Platform } from '../platform/platform.ts';
import type { WorkflowRunView } from '../workflows/workflow-presenter.ts';
import {
  TEMPLATE_CATALOGUE,
  TEMPLATE_NAMES,
  type TemplateCreation,
} from '../workflows/workflow-templates.ts';
import { withFeatures } from './cli-features.ts';
import { CliError, EXIT, printJson } from './cli-output.ts';

const usd = (nano: number) => `$${(nano / 1e9).toFixed(4)}`;

/** `--input k=v` (repeatable) → { k: v }. */
/**
 * Starts a run of a workflow from the CLI. The queue is started without workers, so without
 * `wait` the run's job is stored for the server; with `wait` the run is executed here, its
 * progress shown on stderr unless `json`, and the run is read again once it ended.
 */
async function startWorkflowRun(
  features: Features,
  platform: Platform,
  workflowId: string,
  options: { project: string; inputs?: Record<string, string>; wait?: boolean; json?: boolean },
): Promise<WorkflowRunView> {
  const service = features.workflows.service;
  const actor = systemActor();
  features.registerJobs();
  await platform.jobs.start();
  const started = await service.startRun(
    actor,
    options.project,
    workflowId,
    options.inputs ? { inputs: options.inputs } : {},
  );
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
}

export function parseInputs(values: readonly string[], flag = '--input'): Record<string, string> {
  const inputs: Record<string, string> = {};
  for (const value of values) {
    const at = value.indexOf('=');
    if (at < 1)
      throw new CliError(
        `${flag} must look like name=value (got ${JSON.stringify(value)})`,
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
  const { runStream } = await import('../workflows/workflow-events.ts');
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
 * `--set name=value` (repeatable) → a template request: each name must be one of the
 * template's fields (the message lists them), booleans and numbers are read as such.
 */
export function templateRequest(template: string, values: readonly string[]) {
  const info = TEMPLATE_CATALOGUE.find((candidate) => candidate.template === template);
  if (!info)
    throw new CliError(
      `Unknown template ${JSON.stringify(template)}; one of: ${TEMPLATE_NAMES.join(', ')}`,
      EXIT.usage,
    );
  const request: Record<string, unknown> = { template };
  for (const [name, text] of Object.entries(parseInputs(values, '--set'))) {
    const field = info.fields.find((candidate) => candidate.name === name);
    if (!field)
      throw new CliError(
        `${template} has no field ${JSON.stringify(name)}; its fields: ${info.fields.map((candidate) => candidate.name).join(', ')}`,
        EXIT.usage,
      );
    if (field.type === 'boolean') {
      if (text !== 'true' && text !== 'false')
        throw new CliError(`--set ${name} must be true or false`, EXIT.usage);
      request[name] = text === 'true';
    } else if (field.type === 'number') {
      const number = Number(text);
      if (text.trim() === '' || !Number.isFinite(number))
        throw new CliError(`--set ${name} must be a number`, EXIT.usage);
      request[name] = number;
    } else request[name] = text;
  }
  return request;
}

/** What `workflow template apply --dry-run` shows: what would be made, then the steps. */
export function previewLines(preview: {
  name: string;
  creates: TemplateCreation[];
  steps: { id: string; kind: string }[];
}): string[] {
  return [
    `Workflow "${preview.name}"`,
    preview.creates.length > 0 ? 'Makes first:' : 'Makes nothing first.',
    ...preview.creates.map((entry) =>
      entry.kind === 'documents'
        ? `  documents collection "${entry.name}" (${entry.documents} sample documents)`
        : entry.kind === 'dataset'
          ? `  dataset "${entry.name}" (columns: ${entry.columns.join(', ')})`
          : `  AI column "${entry.name}" (${entry.model})`,
    ),
    'Steps:',
    ...preview.steps.map((step, index) => `  ${index + 1}. ${step.id} (${step.kind})`),
  ];
}

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
          return startWorkflowRun(features, platform, found.id, { ...options, inputs });
        });
        if (options.json) printJson(run);
        else process.stdout.write(`${runLines(run).join('\n')}\n`);
        if (options.wait && run.status === 'failed')
          throw new CliError(`run failed at step ${run.failedStep}: ${run.error?.message}`);
      },
    );

  const template = workflow
    .command('template')
    .description('Workflow templates: list them, or make a workflow from one');
  template
    .command('list')
    .description('The templates and the fields each takes (--set name=value)')
    .option('--json', 'print the templates as JSON')
    .action((options: { json?: boolean }) => {
      if (options.json) return printJson({ items: TEMPLATE_CATALOGUE });
      const lines = TEMPLATE_CATALOGUE.flatMap((info) => [
        `${info.template} — ${info.title}`,
        `  ${info.description}`,
        ...info.fields.map(
          (field) =>
            `  --set ${field.name}=…${field.required ? ' (required)' : ''}  ${field.label}${field.help ? `: ${field.help}` : ''}`,
        ),
        '',
      ]);
      process.stdout.write(`${lines.join('\n')}`);
    });
  template
    .command('apply')
    .description(
      'Make a workflow from a template (what it needs first: collection, sheet, AI columns)',
    )
    .argument('<template>', `one of ${TEMPLATE_NAMES.join(', ')}`)
    .requiredOption('--project <project>', 'project id')
    .option('--set <name=value>', 'a field of the template (repeatable)', collect, [])
    .option('--dry-run', 'show what it would make and the steps, and make nothing')
    .option('--run', 'start a run of the new workflow')
    .option('--wait', 'with --run: run it here and wait for the end, showing progress')
    .option('--json', 'print the workflow (or the preview, or the run) as JSON')
    .action(
      async (
        name: string,
        options: {
          project: string;
          set: string[];
          dryRun?: boolean;
          run?: boolean;
          wait?: boolean;
          json?: boolean;
        },
      ) => {
        const request = templateRequest(name, options.set);
        if (options.wait && !options.run) throw new CliError('--wait goes with --run', EXIT.usage);
        const actor = systemActor();
        const result = await withFeatures(async (features, platform) => {
          const service = features.workflows.service;
          if (options.dryRun)
            return {
              preview: await service.previewFromTemplate(actor, options.project, request),
              created: undefined,
            };
          const created = await service.createFromTemplate(actor, options.project, request);
          if (!options.run) return { created };
          return { created, run: await startWorkflowRun(features, platform, created.id, options) };
        });
        if (result.preview) {
          if (options.json) printJson(result.preview);
          else process.stdout.write(`${previewLines(result.preview).join('\n')}\n`);
          return;
        }
        const { created, run } = result;
        if (!created) return;
        if (options.json) printJson(run ?? created);
        else {
          process.stdout.write(
            `Created workflow "${created.name}" (${created.id}): ${created.definition.steps.map((step) => step.id).join(' → ')}\n`,
          );
          if (run) process.stdout.write(`${runLines(run).join('\n')}\n`);
        }
        if (run?.status === 'failed')
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
