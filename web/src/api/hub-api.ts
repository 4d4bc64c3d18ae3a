import { api } from './api-client.ts';

/** A publish to the Hugging Face Hub (server: src/sheets/hub/hub-publish-service.ts). */
export interface HubPublish {
  id: string;
  datasetId: string;
  repo: string;
  private: boolean;
  status: 'queued' | 'running' | 'done' | 'failed';
  error: string | null;
  repoUrl: string;
  commitOid: string | null;
  commitUrl: string | null;
  filesUploaded: number;
  filesSkipped: number;
  attempts: number;
  createdAt: string;
  finishedAt: string | null;
}

export interface HubTokenStatus {
  project: boolean;
  environment: boolean;
  hubUrl: string;
}

const hubPath = (projectId: string) => `/api/projects/${encodeURIComponent(projectId)}/hub`;

export const hubApi = {
  tokenStatus: (projectId: string) => api<HubTokenStatus>(`${hubPath(projectId)}/token`),
  setToken: (projectId: string, token: string) =>
    api<HubTokenStatus>(`${hubPath(projectId)}/token`, { method: 'PUT', body: { token } }),
  publish: (projectId: string, datasetId: string, input: { repo: string; private: boolean }) =>
    api<HubPublish>(
      `/api/projects/${encodeURIComponent(projectId)}/datasets/${encodeURIComponent(datasetId)}/publish`,
      { method: 'POST', body: input },
    ),
  get: (projectId: string, publishId: string) =>
    api<HubPublish>(`${hubPath(projectId)}/publishes/${encodeURIComponent(publishId)}`),
  retry: (projectId: string, publishId: string) =>
    api<HubPublish>(`${hubPath(projectId)}/publishes/${encodeURIComponent(publishId)}/retry`, {
      method: 'POST',
    }),
};
