import { useQuery } from '@tanstack/react-query';
import { Link, useParams, useSearch } from '@tanstack/react-router';
import { useMemo } from 'react';
import { useMe } from '../auth/session.ts';
import { ImageProjectContext } from '../images/image-cell.tsx';
import { projectsQuery } from '../projects/project-queries.ts';
import { FormError } from '../ui/form-error.tsx';
import { datasetQuery } from './dataset-query.ts';
import { DatasetView } from './dataset-view.tsx';
import {
  fetchProjectThumbnails,
  ThumbnailPrefetch,
  ThumbnailPrefetchContext,
} from './thumbnail-prefetch.ts';

export const datasetQueryKey = (projectId: string, datasetId: string) => [
  'dataset',
  projectId,
  datasetId,
];

/** /projects/:projectId/datasets/:datasetId — the grid of one dataset. */
export function DatasetPage() {
  const { projectId, datasetId } = useParams({ strict: false }) as {
    projectId: string;
    datasetId: string;
  };
  // `?row=<rowId>`: a link to one row (a report's citation) opens the grid scrolled to it.
  const { row: focusRowId } = useSearch({ strict: false }) as { row?: unknown };
  const me = useMe();
  // One per project: thumbnails fetched for one dataset's grid serve the next one too.
  const thumbnails = useMemo(
    () => new ThumbnailPrefetch({ fetchThumbnails: fetchProjectThumbnails(projectId) }),
    [projectId],
  );
  const projects = useQuery(projectsQuery);
  const dataset = useQuery(datasetQuery(projectId, datasetId));
  const role = projects.data?.items.find((project) => project.id === projectId)?.role;
  const readOnly = role === 'viewer' || (role === null && !me.user.isAdmin);

  if (dataset.error) {
    return (
      <section className="page">
        <FormError error={dataset.error} />
        <Link to="/projects/$projectId/datasets" params={{ projectId }}>
          Back to datasets
        </Link>
      </section>
    );
  }
  if (!dataset.data) return <p className="page muted">Loading dataset…</p>;
  if (dataset.data.status !== 'ready') {
    return (
      <section className="page" aria-busy="true">
        <h1>{dataset.data.name}</h1>
        <p className="muted">This dataset is {dataset.data.status}…</p>
      </section>
    );
  }
  return (
    <ImageProjectContext.Provider value={projectId}>
      <ThumbnailPrefetchContext.Provider value={thumbnails}>
        <DatasetView
          key={datasetId}
          projectId={projectId}
          dataset={dataset.data}
          readOnly={readOnly}
          focusRowId={focusRowId === undefined ? undefined : String(focusRowId)}
        />
      </ThumbnailPrefetchContext.Provider>
    </ImageProjectContext.Provider>
  );
}
