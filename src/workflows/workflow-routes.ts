import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { notFound } from '../platform/app-error.ts';
import type { EventBus } from '../platform/events.ts';
import { routePlugin } from '../platform/http/route-plugin.ts';
import { streamToClient } from '../platform/http/sse.ts';
import { runStream } from './workflow-events.ts';
import {
  approvalSchema,
  createWorkflowSchema,
  rerunSchema,
  startRunSchema,
  stepIdSchema,
  updateWorkflowSchema,
} from './workflow-schema.ts';
import type { WorkflowService } from './workflow-service.ts';
import { fromTemplateSchema } from './workflow-templates.ts';

const projectParams = z.object({ projectId: z.uuid() });
const workflowParams = projectParams.extend({ workflowId: z.uuid() });
const runParams = projectParams.extend({ runId: z.uuid() });

/** Workflows HTTP API (docs/workflows.md): validate → service → JSON (the service presents). */
export const workflowRoutes = routePlugin<{ workflows: WorkflowService; events: EventBus }>(
  ['workflows'],
  (route, options) => {
    const { workflows } = options;
    const base = '/api/projects/:projectId/workflows';
    const runs = '/api/projects/:projectId/workflow-runs';

    route.get(
      base,
      { summary: "The project's workflows", params: projectParams },
      async (request) => ({
        items: await workflows.listWorkflows(request.actor, request.params.projectId),
      }),
    );

    route.post(
      base,
      {
        summary: 'Create a workflow (editor)',
        description:
          'A definition is checked before it is saved: its shape, step ids and references (a cycle or an unknown step kind answers 400), and the datasets and columns it names (a missing one answers 400 naming `steps.<index>.<field>`).',
        params: projectParams,
        body: createWorkflowSchema,
        status: 201,
      },
      async (request) =>
        workflows.createWorkflow(request.actor, request.params.projectId, request.body),
    );

    route.post(
      `${base}/from-template`,
      {
        summary: 'Create a workflow from a template (editor)',
        description:
          'Templates: `investigate-documents` (documents → extraction sheet with citations → anomaly SQL → findings report; `sampleDocuments: true` makes a collection of sample invoices first), `enrich-dataset` (a new AI column filled on the rows that lack it, and a summary), `compare-models` (the same prompt in two AI columns, with tokens, cost and run time side by side). What the workflow needs (collection, extraction sheet, AI columns) is made first, without running anything; the definition is then saved and checked like any other.',
        params: projectParams,
        body: fromTemplateSchema,
        status: 201,
      },
      async (request) =>
        workflows.createFromTemplate(request.actor, request.params.projectId, request.body),
    );

    route.get(
      `${base}/templates`,
      {
        summary: 'The workflow templates and the fields each asks for',
        params: projectParams,
      },
      async (request) => ({
        items: await workflows.listTemplates(request.actor, request.params.projectId),
      }),
    );

    route.post(
      `${base}/from-template/preview`,
      {
        summary: 'What a template would make and the workflow it would save (nothing is made)',
        description:
          "The same request as `from-template`, answered without making or saving anything: `creates` lists the collection, dataset and AI columns the template would make (placeholder ids `00000000-0000-7000-8000-…` stand for them in `definition`), `steps` the workflow's steps in order. The datasets it names are read: a missing one answers 404, a bad field 400.",
        params: projectParams,
        body: fromTemplateSchema,
      },
      async (request) =>
        workflows.previewFromTemplate(request.actor, request.params.projectId, request.body),
    );

    route.get(
      `${base}/:workflowId`,
      { summary: 'One workflow with its current definition', params: workflowParams },
      async (request) =>
        workflows.getWorkflow(request.actor, request.params.projectId, request.params.workflowId),
    );

    route.put(
      `${base}/:workflowId`,
      {
        summary:
          'Save a new version (compare-and-set on baseVersion; runs keep the version they started with)',
        params: workflowParams,
        body: updateWorkflowSchema,
      },
      async (request) =>
        workflows.updateWorkflow(
          request.actor,
          request.params.projectId,
          request.params.workflowId,
          request.body,
        ),
    );

    route.delete(
      `${base}/:workflowId`,
      { summary: 'Delete a workflow (its runs are kept)', params: workflowParams, status: 204 },
      async (request) => {
        await workflows.deleteWorkflow(
          request.actor,
          request.params.projectId,
          request.params.workflowId,
        );
      },
    );

    route.post(
      `${base}/:workflowId/runs`,
      {
        summary:
          'Start a run of the current version (202; follow it with GET /workflow-runs/:runId)',
        params: workflowParams,
        body: startRunSchema,
        status: 202,
      },
      async (request) =>
        workflows.startRun(
          request.actor,
          request.params.projectId,
          request.params.workflowId,
          request.body,
        ),
    );

    route.get(
      `${base}/:workflowId/runs`,
      {
        summary: "A workflow's runs, newest first",
        params: workflowParams,
        query: z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) }),
      },
      async (request) => ({
        items: await workflows.listRuns(
          request.actor,
          request.params.projectId,
          request.params.workflowId,
          request.query.limit,
        ),
      }),
    );

    route.get(
      `${runs}/:runId`,
      {
        summary:
          'A run: status, and per step status, attempts, duration, tokens, cost, error and output',
        params: runParams,
      },
      async (request) =>
        workflows.getRun(request.actor, request.params.projectId, request.params.runId),
    );

    route.get(
      `${runs}/:runId/files/:stepId`,
      {
        summary: 'Download the file an export step of the run wrote (always as an attachment)',
        params: runParams.extend({ stepId: stepIdSchema }),
      },
      async (request, reply) => {
        const file = await workflows.runFile(
          request.actor,
          request.params.projectId,
          request.params.runId,
          request.params.stepId,
        );
        const size = (await stat(file.path).catch(() => undefined))?.size;
        if (size === undefined) throw notFound('file of step', request.params.stepId);
        return reply
          .header('content-type', file.mediaType)
          .header('content-length', size)
          .header('x-content-type-options', 'nosniff')
          .header('content-security-policy', "default-src 'none'; sandbox")
          .header('content-disposition', `attachment; filename="${file.name}"`)
          .send(createReadStream(file.path));
      },
    );

    route.get(
      `${runs}/:runId/events`,
      {
        summary:
          'Live run (Server-Sent Events: run-updated with the whole run, step-progress; resume with Last-Event-ID)',
        params: runParams,
        query: z.object({ lastEventId: z.string().max(20).optional() }),
      },
      async (request, reply) => {
        await workflows.getRun(request.actor, request.params.projectId, request.params.runId);
        streamToClient(request, reply, options.events, runStream(request.params.runId));
      },
    );

    for (const [action, summary] of [
      ['cancel', 'Cancel a run (the running step’s calls are aborted)'],
      ['pause', 'Pause a run at its next step boundary (the running step’s calls are aborted)'],
      ['resume', 'Resume a paused run, or retry a failed run from its failed step'],
    ] as const) {
      route.post(`${runs}/:runId/${action}`, { summary, params: runParams }, async (request) => {
        const { projectId, runId } = request.params;
        if (action === 'cancel') return workflows.cancelRun(request.actor, projectId, runId);
        if (action === 'pause') return workflows.pauseRun(request.actor, projectId, runId);
        return workflows.resumeRun(request.actor, projectId, runId);
      });
    }

    route.get(
      `${runs}/:runId/report`,
      {
        summary: "Export a run's findings report as Markdown or HTML",
        description:
          "The output of the run's last finished `report` step (or `step`). Citations (`[[row:<datasetId>/<rowId>]]`, `[[doc:<documentId>#p<page>]]`) were resolved when the report was written: each is a link to the row or document page, or marked unresolved. `format=html` is a standalone page in which raw HTML from documents or model output is escaped, only web, mail and in-app links are kept, and a CSP runs no script.",
        params: runParams,
        query: z.object({
          format: z.enum(['md', 'html']).default('md'),
          step: stepIdSchema.optional(),
        }),
      },
      async (request, reply) => {
        const { format, step } = request.query;
        const report = await workflows.report(
          request.actor,
          request.params.projectId,
          request.params.runId,
          { format, stepId: step },
        );
        const file = `${report.title.replace(/[^A-Za-z0-9._-]+/g, '-').slice(0, 80) || 'report'}.${format}`;
        return reply
          .header(
            'content-type',
            format === 'html' ? 'text/html; charset=utf-8' : 'text/markdown; charset=utf-8',
          )
          .header('x-content-type-options', 'nosniff')
          .header(
            'content-security-policy',
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
          )
          .header('content-disposition', `attachment; filename="${file}"`)
          .send(report.body);
      },
    );

    route.post(
      `${runs}/:runId/rerun`,
      {
        summary: 'A new run of the same version from a chosen step (earlier steps’ outputs reused)',
        params: runParams,
        body: rerunSchema,
        status: 202,
      },
      async (request) =>
        workflows.rerunFrom(
          request.actor,
          request.params.projectId,
          request.params.runId,
          request.body,
        ),
    );

    route.post(
      `${runs}/:runId/steps/:stepId/decision`,
      {
        summary: 'Approve or reject the approval step a run waits for',
        params: runParams.extend({ stepId: stepIdSchema }),
        body: approvalSchema,
      },
      async (request) =>
        workflows.decide(
          request.actor,
          request.params.projectId,
          request.params.runId,
          request.params.stepId,
          request.body,
        ),
    );
  },
);
