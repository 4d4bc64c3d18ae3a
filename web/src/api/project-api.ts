import { api } from './api-client.ts';

export type ProjectRole = 'owner' | 'editor' | 'viewer';

export interface Project {
  id: string;
  name: string;
  description: string;
  role: ProjectRole | null;
  createdAt: string;
  updatedAt: string;
}

export interface Member {
  userId: string;
  email: string;
  displayName: string;
  role: ProjectRole;
  addedAt: string;
}

const base = (projectId: string) => `/api/projects/${encodeURIComponent(projectId)}`;

export const projectApi = {
  list: () => api<{ items: Project[] }>('/api/projects'),
  create: (input: { name: string; description?: string }) =>
    api<Project>('/api/projects', { method: 'POST', body: input }),
  get: (projectId: string) => api<Project>(base(projectId)),
  members: (projectId: string) => api<{ items: Member[] }>(`${base(projectId)}/members`),
  addMember: (projectId: string, input: { email: string; role: ProjectRole }) =>
    api<Member>(`${base(projectId)}/members`, { method: 'POST', body: input }),
  updateMember: (projectId: string, userId: string, role: ProjectRole) =>
    api<Member>(`${base(projectId)}/members/${encodeURIComponent(userId)}`, {
      method: 'PATCH',
      body: { role },
    }),
  removeMember: (projectId: string, userId: string) =>
    api<void>(`${base(projectId)}/members/${encodeURIComponent(userId)}`, { method: 'DELETE' }),
};
