import type { QueryClient, QueryKey } from '@tanstack/react-query';

/**
 * Puts what a live event carries into the query cache. A read already in flight left the server
 * before the event was published, and when it lands it would overwrite the newer value: a run
 * shown "Running" for good after its "Completed" event, when the stream's open (which reads the
 * run again) and the run's end crossed. So that read is cancelled first (the cache keeps what it
 * had), the event's value is set, and the query is read again: a read that starts now sees at
 * least what the event saw, and whatever else changed meanwhile.
 */
export function setLiveData<T>(
  client: QueryClient,
  queryKey: QueryKey,
  update: T | ((previous: T | undefined) => T | undefined),
): void {
  const filters = { queryKey, exact: true };
  const inFlight = client.isFetching(filters) > 0;
  void client.cancelQueries(filters);
  client.setQueryData<T>(queryKey, update as (previous: T | undefined) => T | undefined);
  if (inFlight) void client.invalidateQueries(filters);
}
