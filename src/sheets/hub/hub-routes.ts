import { z } from 'zod';
import { routePlugin } from '../../platform/http/route-plugin.ts';
import type { HubPublishService } from './hub-publish-service.ts';

const projectParams = z.object({ projectId: z.uuid() });
const datasetParams = projectParams.extend({ datasetId: z.uuid() });
const publishParams = projectParams.extend({ publishId: z.uuid() });

const publishSchema = z.object({
  id: z.string(),
  datasetId: z.string(),
  repo: z.string(),
  private: z.boolean(),
  status: z.enum(['queued', 'running', 'done', 'failed']),
  error: z.string().nullable(),
  repoUrl: z.string(),
  commitOid: z.string().nullable(),
  commitUrl: z.string().nullable(),
  filesUploaded: z.number().int(),
  filesSkipped: z.number().int(),
  attempts: z.number().int(),
  createdAt: z.string(),
  finishedAt: z.string().nullable(),
});

const tokenStatusSchema = z.object({
  project: z.boolean().describe("A token is set for this project (it wins over the server's)"),
  environment: z.boolean().describe('HF_TOKEN is set on the server'),
  hubUrl: z.string(),
});

/** Publish to the Hugging Face Hub (docs/images.md "Publish to the Hub"): validate → service → JSON. */
export const hubRoutes = routePlugin<{ hub: HubPublishService }>(['hub'], (route, { hub }) => {
  const base = '/api/projects/:projectId/hub';

  route.post(
    '/api/projects/:projectId/datasets/:datasetId/publish',
    {
      summary: 'Publish a dataset to the Hugging Face Hub (a job; read its status)',
      description:
        'Parquet with image structs, a dataset card with the AI columns’ prompts and models, and braincells.json describing every AI column. 400 naming `token` when no token is set or the Hub refuses it. Editor.',
      params: datasetParams,
      body: z.object({
        repo: z.string().max(200).describe('owner/name of the dataset repository'),
        private: z.boolean().default(true),
      }),
      response: publishSchema,
      status: 202,
    },
    async (request) =>
      hub.publishDataset(
        request.actor,
        request.params.projectId,
        request.params.datasetId,
        request.body,
      ),
  );

  route.get(
    `${base}/publishes`,
    {
      summary: "A project's latest publishes (50), newest first",
      params: projectParams,
      query: z.object({ datasetId: z.uuid().optional() }),
      response: z.object({ items: z.array(publishSchema) }),
    },
    async (request) => ({
      items: await hub.listPublishes(
        request.actor,
        request.params.projectId,
        request.query.datasetId,
      ),
    }),
  );

  route.get(
    `${base}/publishes/:publishId`,
    { summary: 'One publish and its status', params: publishParams, response: publishSchema },
    async (request) =>
      hub.getPublish(request.actor, request.params.projectId, request.params.publishId),
  );

  route.post(
    `${base}/publishes/:publishId/retry`,
    {
      summary: 'Retry a failed publish (what the Hub already holds is not sent again)',
      params: publishParams,
      response: publishSchema,
      status: 202,
    },
    async (request) =>
      hub.retryPublish(request.actor, request.params.projectId, request.params.publishId),
  );

  route.get(
    `${base}/token`,
    {
      summary: 'Whether a Hub token is set (never the token)',
      params: projectParams,
      response: tokenStatusSchema,
    },
    async (request) => hub.tokenStatus(request.actor, request.params.projectId),
  );

  route.put(
    `${base}/token`,
    {
      summary: "Set the project's Hub token (checked with the Hub, sealed at rest). Owner.",
      params: projectParams,
      body: z.object({ token: z.string().max(400) }),
      response: tokenStatusSchema,
    },
    async (request) => hub.setToken(request.actor, request.params.projectId, request.body.token),
  );

  route.delete(
    `${base}/token`,
    { summary: "Remove the project's Hub token. Owner.", params: projectParams, status: 204 },
    async (request) => {
      await hub.deleteToken(request.actor, request.params.projectId);
    },
  );
});
