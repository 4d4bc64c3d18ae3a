import { queryOptions, useQuery } from '@tanstack/react-query';
import { authApi } from '../api/auth-api.ts';

export const meQuery = queryOptions({
  queryKey: ['me'],
  queryFn: () => authApi.me(),
  staleTime: 5 * 60_000,
  retry: false,
});

/** The signed-in user; only used below the signed-in layout, where it is loaded already. */
export function useMe() {
  const { data } = useQuery(meQuery);
  if (!data) throw new Error('useMe outside the signed-in layout');
  return data;
}
