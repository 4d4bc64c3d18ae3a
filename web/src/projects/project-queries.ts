import { queryOptions } from '@tanstack/react-query';
import { projectApi } from '../api/project-api.ts';

export const projectsQuery = queryOptions({
  queryKey: ['projects'],
  queryFn: () => projectApi.list(),
  staleTime: 60_000,
});

export const membersQuery = (projectId: string) =>
  queryOptions({
    queryKey: ['projects', projectId, 'members'],
    queryFn: () => projectApi.members(projectId),
  });
