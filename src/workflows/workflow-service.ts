import type { z } from 'zod';
import type { Actor } from '../access/actor.ts';
import type { AuditRecorder } from '../access/audit-recorder.ts';
import type { ProjectAccess } from '../access/project-access.ts';
import { SAMPLE_DOCUMENTS } from '../documents/document-samples.ts';
import {
  conflict,
  type FieldIssue,
  isAppError,
  notFound,
  validationError,
} from '../platform/app-error.ts';
import { uuidv7 } from '../platform/ids.ts';
import type { DurableRuns } from '../platform/jobs/durable-run.ts';
import type { RunEvents } from './workflow-events.ts';
import { RESERVED_FIELD_NAMES } from './workflow-extract.ts';
import { planWorkflow } from './workflow-plan.ts';
import { presentRunSummary, presentWorkflow } from './workflow-presenter.ts';
import { type ReportOutput, reportHtml } from './workflow-report.ts';
import { WORKFLOW_RUN } from './workflow-run.ts';
import {
  approvalSchema,
  createWorkflowSchema,
  DATASET_EXPORT_FORMATS,
  definitionSchema,
  REPORT_EXPORT_FORMATS,
  rerunSchema,
  startRunSchema,
  updateWorkflowSchema,
  type WorkflowDefinition,
  type WorkflowStep,
} from './workflow-schema.ts';
import type { WorkflowPorts } from './workflow-steps.ts';
import type { WorkflowStore, WorkflowTrx, WorkflowUse } from './workflow-store.ts';
import {
  buildFromTemplate,
  fromTemplateSchema,
  previewPorts,
  TEMPLATE_CATALOGUE,
  type TemplatePorts,
} from './workflow-templates.ts';

/** Turns a zod failure into our 400 naming each field (`steps.2.datasetId`). */
function parseOr400<T extends z.ZodType>(schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const issues: FieldIssue[] = parsed.error.issues.map((issue) => ({
    path: issue.path.join('.'),
    message: issue.message,
  }));
  throw validationError(`Invalid ${issues[0]?.path || 'input'}: ${issues[0]?.message}`, issues);
}

/** An `export` step names one source, a format that source has, and a report step for a report. */
function exportIssues(
  definition: WorkflowDefinition,
  step: Extract<WorkflowStep, { kind: 'export' }>,
  position: number,
): FieldIssue[] {
  const at = (field: string, message: string) => [{ path: `steps.${position}.${field}`, message }];
  if (!step.datasetId === !step.reportStep)
    return at('datasetId', 'name either a datasetId or a reportStep');
  if (step.reportStep) {
    const target = definition.steps.find((other) => other.id === step.reportStep);
    if (target && target.kind !== 'report')
      return at('reportStep', `"${step.reportStep}" is not a report step`);
    if (!(REPORT_EXPORT_FORMATS as readonly string[]).includes(step.format))
      return at('format', `a report exports as ${REPORT_EXPORT_FORMATS.join(' or ')}`);
  } else if (!(DATASET_EXPORT_FORMATS as readonly string[]).includes(step.format))
    return at('format', `a dataset exports as ${DATASET_EXPORT_FORMATS.join(', ')}`);
  return [];
}

const creatorOf = (actor: Actor) => (actor.via === 'system' ? null : actor.userId);

/**
 * Workflow use cases (docs/workflows.md): definitions with versions, runs on the durable-run
 * engine, approvals. A definition is checked three ways before it is saved — its shape (zod),
 * its structure (ids, references, cycles: workflow-plan.ts) and what it names in the project
 * (datasets, columns) — and every problem answers 400 naming `steps.<index>.<field>`.
 */
export function createWorkflowService(deps: {
  store: WorkflowStore;
  runs: DurableRuns;
  access: ProjectAccess;
  audit: AuditRecorder;
  ports: WorkflowPorts;
  templates: TemplatePorts;
  events: RunEvents;
}) {
  const { store, runs, access, audit, ports } = deps;

  /** Structure and references; answers what the definition uses. */
  async function checkDefinition(actor: Actor, projectId: string, definition: WorkflowDefinition) {
    const planned = planWorkflow(definition);
    if (!planned.plan)
      throw validationError(
        `Invalid ${planned.issues[0]!.path}: ${planned.issues[0]!.message}`,
        planned.issues,
      );
    const issues: FieldIssue[] = [];
    const uses: WorkflowUse[] = [];
    for (const [position, step] of definition.steps.entries()) {
      if (step.kind === 'extract')
        for (const name of Object.keys(step.schema.properties))
          if (RESERVED_FIELD_NAMES.has(name.toLowerCase()))
            issues.push({
              path: `steps.${position}.schema.properties.${name}`,
              message: 'is a column the extraction sheet keeps for itself',
            });
      if (step.kind === 'llm') {
        if (step.agentId) {
          const agent = await ports.findAgent(actor, projectId, step.agentId);
          if (agent) uses.push({ target_kind: 'agent', target_id: step.agentId });
          else
            issues.push({
              path: `steps.${position}.agentId`,
              message: `no agent ${step.agentId} in this project`,
            });
        } else if (!step.model)
          issues.push({
            path: `steps.${position}.model`,
            message: 'required (or name an agentId)',
          });
      }
      if (step.kind === 'export') issues.push(...exportIssues(definition, step, position));
      const named = [
        ...('datasetId' in step && step.datasetId
          ? [{ field: 'datasetId', id: step.datasetId }]
          : []),
        ...(step.kind === 'extract'
          ? [{ field: 'documentsDatasetId', id: step.documentsDatasetId }]
          : []),
      ];
      for (const { field, id } of named) {
        const columns = await ports.datasetColumns(actor, projectId, id).catch((error: unknown) => {
          if (isAppError(error) && error.code === 'NOT_FOUND') return undefined;
          throw error;
        });
        if (!columns) {
          issues.push({
            path: `steps.${position}.${field}`,
            message: `no dataset ${id} in this project`,
          });
          continue;
        }
        uses.push({ target_kind: 'dataset', target_id: id });
        if (step.kind === 'ai-column' && !columns.some((column) => column.id === step.columnId))
          issues.push({
            path: `steps.${position}.columnId`,
            message: `no column ${step.columnId} in the dataset`,
          });
      }
    }
    if (issues.length > 0)
      throw validationError(`Invalid ${issues[0]!.path}: ${issues[0]!.message}`, issues);
    return uses;
  }

  const loadWorkflow = async (projectId: string, workflowId: string) => {
    const row = await store.find(projectId, workflowId);
    if (!row) throw notFound('workflow', workflowId);
    return row;
  };
  const definitionOf = async (workflowId: string, version: number) =>
    definitionSchema.parse((await store.findVersion(workflowId, version))?.definition);

  const loadRun = async (projectId: string, runId: string) => {
    const run = await store.findRun(runId);
    if (!run || run.project_id !== projectId) throw notFound('workflow run', runId);
    return run;
  };

  const { view } = deps.events;
  /** The run after a change someone asked for: published on its stream, then answered. */
  const changed = async (runId: string) => {
    await deps.events.changed(runId);
    return view(runId);
  };

  const nameTaken = async (projectId: string, name: string, except?: string) => {
    const existing = await store.findByName(projectId, name);
    if (existing && existing.id !== except)
      throw conflict(`A workflow named "${name}" exists`, { field: 'name' });
  };

  async function startRun(
    actor: Actor,
    projectId: string,
    workflowId: string,
    options: {
      inputs: Record<string, string>;
      version?: number;
      rerunOf?: string;
      fromStep?: string;
    },
  ) {
    const workflow = await loadWorkflow(projectId, workflowId);
    const version = options.version ?? workflow.version;
    const definition = await definitionOf(workflowId, version);
    const declared = new Map(definition.inputs.map((input) => [input.name, input.default]));
    const issues: FieldIssue[] = [];
    for (const name of Object.keys(options.inputs))
      if (!declared.has(name))
        issues.push({ path: `inputs.${name}`, message: 'not an input of this workflow' });
    const inputs: Record<string, string> = {};
    for (const [name, fallback] of declared) {
      const value = options.inputs[name] ?? fallback;
      if (value === undefined) issues.push({ path: `inputs.${name}`, message: 'required' });
      else inputs[name] = value;
    }
    if (issues.length > 0)
      throw validationError(`Invalid ${issues[0]!.path}: ${issues[0]!.message}`, issues);
    const id = uuidv7();
    await store.transaction(async (trx) => {
      await store.insertRun(trx, {
        id,
        workflowId,
        version,
        projectId,
        inputs,
        startedBy: creatorOf(actor),
        rerunOf: options.rerunOf,
        fromStep: options.fromStep,
      });
      await audit.record(trx as never, {
        actor,
        action: 'workflow.run',
        entityType: 'workflow',
        entityId: workflowId,
        projectId,
        summary: {
          runId: id,
          version,
          ...(options.fromStep ? { rerunOf: options.rerunOf, fromStep: options.fromStep } : {}),
        },
      });
    });
    await runs.start({ kind: WORKFLOW_RUN, id, projectId, input: { runId: id } });
    return changed(id);
  }

  const auditIn = (
    trx: WorkflowTrx,
    actor: Actor,
    action: string,
    projectId: string,
    entityId: string,
    summary: Record<string, unknown>,
  ) =>
    audit.record(trx as never, {
      actor,
      action,
      entityType: 'workflow',
      entityId,
      projectId,
      summary,
    });

  return {
    async listWorkflows(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const rows = await store.list(projectId);
      return Promise.all(
        rows.map(async (row) => presentWorkflow(row, await definitionOf(row.id, row.version))),
      );
    },

    async getWorkflow(actor: Actor, projectId: string, workflowId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const row = await loadWorkflow(projectId, workflowId);
      return presentWorkflow(row, await definitionOf(row.id, row.version));
    },

    /** By id or by (case-insensitive) name: what the CLI's `workflow run NAME` needs. */
    async findWorkflow(actor: Actor, projectId: string, idOrName: string) {
      await access.requireRole(actor, projectId, 'viewer');
      const row =
        (/^[0-9a-f-]{36}$/i.test(idOrName) ? await store.find(projectId, idOrName) : undefined) ??
        (await store.findByName(projectId, idOrName));
      if (!row) throw notFound('workflow', idOrName);
      return presentWorkflow(row, await definitionOf(row.id, row.version));
    },

    async createWorkflow(actor: Actor, projectId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = parseOr400(createWorkflowSchema, input);
      const uses = await checkDefinition(actor, projectId, parsed.definition);
      await nameTaken(projectId, parsed.name);
      const id = uuidv7();
      await store.transaction(async (trx) => {
        await store.insert(trx, {
          id,
          projectId,
          name: parsed.name,
          definition: parsed.definition,
          createdBy: creatorOf(actor),
        });
        await store.replaceUses(trx, id, uses);
        await auditIn(trx, actor, 'workflow.create', projectId, id, {
          name: parsed.name,
          steps: parsed.definition.steps.length,
        });
      });
      return this.getWorkflow(actor, projectId, id);
    },

    /**
     * A workflow from a template (workflow-templates.ts): what it needs is made first (sample
     * documents, an extraction sheet, AI columns), then the definition is saved like any other.
     */
    async createFromTemplate(actor: Actor, projectId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = parseOr400(fromTemplateSchema, input);
      if (parsed.name) await nameTaken(projectId, parsed.name);
      const built = await buildFromTemplate(actor, projectId, parsed, deps.templates);
      let name = built.name;
      for (let suffix = 2; !parsed.name && (await store.findByName(projectId, name)); suffix++)
        name = `${built.name} (${suffix})`;
      return this.createWorkflow(actor, projectId, { name, definition: built.definition });
    },

    /** The templates a picker offers, with the fields each asks for. */
    async listTemplates(actor: Actor, projectId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      return TEMPLATE_CATALOGUE;
    },

    /**
     * What a template would make and the workflow it would save, without making or saving
     * anything: the same template code runs over ports that only list what they are asked to
     * make. The datasets it names are read (400/404 as for a create).
     */
    async previewFromTemplate(actor: Actor, projectId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = parseOr400(fromTemplateSchema, input);
      const { ports, creations } = previewPorts(deps.templates, SAMPLE_DOCUMENTS.length);
      const built = await buildFromTemplate(actor, projectId, parsed, ports);
      const definition = parseOr400(definitionSchema, built.definition);
      return {
        template: parsed.template,
        name: parsed.name ?? built.name,
        creates: creations,
        steps: definition.steps.map((step) => ({
          id: step.id,
          kind: step.kind,
          ...(step.name ? { name: step.name } : {}),
        })),
        definition,
      };
    },

    /**
     * A run's findings report: the output of its last finished `report` step (or of `stepId`),
     * Markdown with citations resolved, or that Markdown as sanitized HTML.
     */
    async report(
      actor: Actor,
      projectId: string,
      runId: string,
      options: { format: 'md' | 'html'; stepId?: string | undefined },
    ) {
      await access.requireRole(actor, projectId, 'viewer');
      const run = await loadRun(projectId, runId);
      const definition = await definitionOf(run.workflow_id, run.version);
      const outputs = new Map(
        (await runs.steps(runId))
          .filter((step) => step.status === 'completed')
          .map((step) => [step.key, step.output]),
      );
      const report = definition.steps
        .filter((step) => step.kind === 'report')
        .filter((step) => options.stepId === undefined || step.id === options.stepId)
        .map((step) => outputs.get(`step:${step.id}`) as ReportOutput | undefined)
        .filter((output) => output && typeof output.markdown === 'string')
        .at(-1);
      if (!report) throw notFound('report of run', runId);
      return {
        title: report.title,
        body: options.format === 'html' ? reportHtml(report) : report.markdown,
      };
    },

    /** The file an `export` step of the run wrote (served as an attachment). */
    async runFile(actor: Actor, projectId: string, runId: string, stepId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await loadRun(projectId, runId);
      const step = (await runs.steps(runId)).find(
        (candidate) => candidate.key === `step:${stepId}` && candidate.status === 'completed',
      );
      const output = step?.output as
        | { file?: string; format?: string; mediaType?: string }
        | null
        | undefined;
      if (!output?.file || !output.format) throw notFound('file of step', stepId);
      return {
        path: await ports.runFile(runId, stepId, output.format),
        name: output.file,
        mediaType: output.mediaType ?? 'application/octet-stream',
      };
    },

    /** A new version (compare-and-set on `baseVersion`); runs already started keep theirs. */
    async updateWorkflow(actor: Actor, projectId: string, workflowId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = parseOr400(updateWorkflowSchema, input);
      const current = await loadWorkflow(projectId, workflowId);
      const uses = await checkDefinition(actor, projectId, parsed.definition);
      const name = parsed.name ?? current.name;
      await nameTaken(projectId, name, workflowId);
      await store.transaction(async (trx) => {
        const version = await store.addVersion(trx, {
          id: workflowId,
          baseVersion: parsed.baseVersion,
          name,
          definition: parsed.definition,
          createdBy: creatorOf(actor),
        });
        if (version === undefined)
          throw conflict('The workflow was changed since you loaded it', {
            field: 'baseVersion',
            version: current.version,
          });
        await store.replaceUses(trx, workflowId, uses);
        await auditIn(trx, actor, 'workflow.update', projectId, workflowId, { version });
      });
      return this.getWorkflow(actor, projectId, workflowId);
    },

    async deleteWorkflow(actor: Actor, projectId: string, workflowId: string) {
      await access.requireRole(actor, projectId, 'editor');
      const row = await loadWorkflow(projectId, workflowId);
      await store.transaction(async (trx) => {
        await store.softDelete(trx, workflowId);
        await store.replaceUses(trx, workflowId, []);
        await auditIn(trx, actor, 'workflow.delete', projectId, workflowId, { name: row.name });
      });
    },

    async startRun(actor: Actor, projectId: string, workflowId: string, input: unknown = {}) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = parseOr400(startRunSchema, input);
      return startRun(actor, projectId, workflowId, { inputs: parsed.inputs });
    },

    /** A new run of the same version that reuses the outputs of the steps before `fromStep`. */
    async rerunFrom(actor: Actor, projectId: string, runId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'editor');
      const { fromStep } = parseOr400(rerunSchema, input);
      const source = await loadRun(projectId, runId);
      const definition = await definitionOf(source.workflow_id, source.version);
      if (!definition.steps.some((step) => step.id === fromStep))
        throw validationError(
          `Invalid fromStep: no step "${fromStep}" in version ${source.version}`,
          [{ path: 'fromStep', message: `no step "${fromStep}"` }],
        );
      return startRun(actor, projectId, source.workflow_id, {
        inputs: source.inputs,
        version: source.version,
        rerunOf: runId,
        fromStep,
      });
    },

    async listRuns(actor: Actor, projectId: string, workflowId: string, limit = 50) {
      await access.requireRole(actor, projectId, 'viewer');
      await loadWorkflow(projectId, workflowId);
      return (await store.listRuns(workflowId, limit)).map(presentRunSummary);
    },

    async getRun(actor: Actor, projectId: string, runId: string) {
      await access.requireRole(actor, projectId, 'viewer');
      await loadRun(projectId, runId);
      return view(runId);
    },

    /** A run by its id alone (the CLI's `workflow status RUN`): its project's viewers see it. */
    async getRunById(actor: Actor, runId: string) {
      const run = await store.findRun(runId);
      if (!run) throw notFound('workflow run', runId);
      await access.requireRole(actor, run.project_id, 'viewer');
      return view(runId);
    },

    async cancelRun(actor: Actor, projectId: string, runId: string) {
      await access.requireRole(actor, projectId, 'editor');
      await loadRun(projectId, runId);
      await runs.requestCancel(runId);
      return changed(runId);
    },

    async pauseRun(actor: Actor, projectId: string, runId: string) {
      await access.requireRole(actor, projectId, 'editor');
      await loadRun(projectId, runId);
      await runs.requestPause(runId);
      return changed(runId);
    },

    /** Paused → goes on; failed → the failed step is tried again (finished steps are kept). */
    async resumeRun(actor: Actor, projectId: string, runId: string) {
      await access.requireRole(actor, projectId, 'editor');
      const run = await loadRun(projectId, runId);
      if (run.status === 'paused' && run.pause_reason?.startsWith('approval:'))
        throw conflict('The run waits for an approval: approve or reject the step', {
          step: run.pause_reason.slice(9),
        });
      if (run.status !== 'paused' && run.status !== 'failed')
        throw conflict(`The run is ${run.status}`);
      await runs.resume(runId);
      return changed(runId);
    },

    /** Records a decision on the step the run waits for, then lets the run go on. */
    async decide(actor: Actor, projectId: string, runId: string, stepId: string, input: unknown) {
      await access.requireRole(actor, projectId, 'editor');
      const parsed = parseOr400(approvalSchema, input);
      const run = await loadRun(projectId, runId);
      if (run.status !== 'paused' || run.pause_reason !== `approval:${stepId}`)
        throw conflict(`The run is not waiting for an approval of step "${stepId}"`);
      await store.transaction(async (trx) => {
        const first = await store.insertApproval(trx, {
          runId,
          stepId,
          decision: parsed.decision,
          note: parsed.note,
          decidedBy: creatorOf(actor),
        });
        if (!first) throw conflict(`Step "${stepId}" was decided already`);
        await auditIn(
          trx,
          actor,
          `workflow.${parsed.decision === 'approved' ? 'approve' : 'reject'}`,
          projectId,
          run.workflow_id,
          { runId, stepId },
        );
      });
      await runs.resume(runId);
      return changed(runId);
    },

    /** The workflows whose current version uses a dataset, document or agent (delete protection). */
    usersOf: (kind: WorkflowUse['target_kind'], targetId: string) => store.usersOf(kind, targetId),

    /** Audits a forced delete of something workflows use (their runs will fail at that step). */
    async recordForcedDelete(
      actor: Actor,
      projectId: string,
      kind: WorkflowUse['target_kind'],
      targetId: string,
      users: { id: string; name: string }[],
    ) {
      await store.transaction((trx) =>
        audit.record(trx as never, {
          actor,
          action: `${kind}.delete-forced`,
          entityType: kind,
          entityId: targetId,
          projectId,
          summary: { usedBy: users.map((user) => ({ workflowId: user.id, name: user.name })) },
        }),
      );
    },
  };
}
export type WorkflowService = ReturnType<typeof createWorkflowService>;
