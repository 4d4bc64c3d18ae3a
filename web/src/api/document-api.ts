import { api } from './api-client.ts';
import { type UploadHandle, uploadFiles } from './upload.ts';

/** A document as the server presents it (src/documents/document-service.ts presentDocument). */
export interface DocumentView {
  id: string;
  datasetId: string;
  rowId: string | null;
  name: string;
  kind: string | null;
  mediaType: string;
  size: number;
  sha256: string;
  status:
    | 'queued'
    | 'extracting'
    | 'ready'
    | 'no-text'
    | 'encrypted'
    | 'corrupt'
    | 'failed'
    | 'unsupported';
  message: string | null;
  pages: number | null;
  createdAt: string;
}

export interface DocumentCollection {
  id: string;
  name: string;
  documents: number;
}

export interface UploadResult {
  datasetId: string;
  documents: DocumentView[];
  duplicates: { name: string; duplicateOf: string }[];
}

const documentsPath = (projectId: string) =>
  `/api/projects/${encodeURIComponent(projectId)}/documents`;

export const documentApi = {
  collections: (projectId: string) =>
    api<{ items: DocumentCollection[] }>(`${documentsPath(projectId)}/collections`),
  list: (projectId: string, datasetId: string) =>
    api<{ items: DocumentView[]; counts: Record<string, number> }>(documentsPath(projectId), {
      query: { datasetId },
    }),
  originalUrl: (projectId: string, documentId: string) =>
    `${documentsPath(projectId)}/${encodeURIComponent(documentId)}/original`,
  upload: (
    projectId: string,
    files: readonly File[],
    target: { datasetId?: string; name?: string },
    onProgress: (sent: number, total: number) => void,
  ): UploadHandle<UploadResult> => {
    const query = new URLSearchParams(
      target.datasetId ? { datasetId: target.datasetId } : target.name ? { name: target.name } : {},
    ).toString();
    return uploadFiles<UploadResult>(
      `${documentsPath(projectId)}${query ? `?${query}` : ''}`,
      files,
      onProgress,
    );
  },
};
